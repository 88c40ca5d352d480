import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MetricsCollector } from '../../src/agent/collect.js';
import { enrollAgent } from '../../src/agent/enroll.js';
import { FileIdentityStore } from '../../src/agent/identity.js';
import { keepChannel } from '../../src/agent/channel.js';
import { runAgent } from '../../src/agent/run.js';
import { systemClock } from '../../src/lib/clock.js';
import { KEY_INVALID_CLOSE_CODE, REPLACED_CLOSE_CODE } from '../../src/fleet/agent-channels.js';
import { subjectOf } from '../../src/protocol/ip.js';
import { UPGRADES_PER_MINUTE } from '../../src/server/agent-channel.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createLogger } from '../../src/server/logger.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { recordingLog } from '../agent/recording-log.js';

// An hour between reports: a command that arrives within seconds came over the channel.
const ENV = { FLOTILLA_FLEET_REPORT_INTERVAL_SECONDS: '3600' };

let t: TestServer;
let admin: HttpsClient;
let root: string;
beforeAll(async () => {
  t = await startTestServer({ env: ENV });
  admin = await adminClient(t);
  root = await mkdtemp(join(tmpdir(), 'flotilla-channel-'));
});
afterAll(async () => {
  await t?.close();
  await rm(root, { recursive: true, force: true });
});

async function enroll(server: RunningServer, client: HttpsClient, name: string): Promise<{ agentId: string; apiKey: string; dir: string }> {
  const created = await client.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 600, maxUses: 1 });
  expect(created.status).toBe(201);
  const dir = join(root, name);
  const state = await enrollAgent({
    serverUrl: `https://127.0.0.1:${server.port}`,
    token: created.json.token as string,
    trust: { kind: 'pin', fingerprint: server.certificate.fingerprint },
    facts: await new MetricsCollector({ clock: systemClock }).facts(),
    store: new FileIdentityStore(dir),
    clock: systemClock,
  });
  return { agentId: state.identity.agentId, apiKey: state.identity.apiKey, dir };
}

interface Upgrade {
  ws: WebSocket;
  /** 'open', or the HTTP status that refused the upgrade, with its body. */
  outcome: Promise<{ status: number | 'open'; body: string }>;
}

function upgrade(server: RunningServer, headers: Record<string, string>): Upgrade {
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/api/agent/channel`, { ca: server.certificate.certPem, headers });
  const outcome = new Promise<{ status: number | 'open'; body: string }>((resolve, reject) => {
    ws.once('open', () => resolve({ status: 'open', body: '' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
  return { ws, outcome };
}

const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

/** Sends a ping to one machine; resolves with the approval time and when the agent said it started. */
async function pingWithin(client: HttpsClient, agentId: string, ms: number): Promise<{ approvedAt: number; startedAt: number }> {
  const created = await client.send('POST', '/api/commands', { action: 'ping', params: {}, targets: { machines: [agentId] } });
  expect(created.status).toBe(201);
  const approvedAt = created.json.approvedAt as number;
  let startedAt = 0;
  await vi.waitFor(
    async () => {
      const shown = await client.get(`/api/commands/${created.json.id as string}`);
      const machine = (shown.json.machines as Array<{ state: string; startedAt: number | null }>)[0];
      expect(['running', 'succeeded']).toContain(machine?.state);
      startedAt = machine?.startedAt ?? 0;
    },
    { timeout: ms + 1_000, interval: 50 },
  );
  return { approvedAt, startedAt };
}

describe('agent channel', () => {
  it('an agent holding the channel runs a ping within 2 s of its approval, with no report in between', async () => {
    const agent = await enroll(t.server, admin, 'fast');
    const stop = new AbortController();
    const running = runAgent({ stateDir: agent.dir, signal: stop.signal, log: recordingLog() });
    try {
      await vi.waitFor(() => expect(t.server.services.fleet.channels.connected(agent.agentId)).toBe(true), { timeout: 15_000, interval: 50 });
      // The first report's answer is behind us; the next report is an hour away.
      await vi.waitFor(async () => expect((await new FileIdentityStore(agent.dir).read()).seq).toBeGreaterThanOrEqual(1), { timeout: 15_000, interval: 50 });
      const { approvedAt, startedAt } = await pingWithin(admin, agent.agentId, 2_000);
      expect(startedAt - approvedAt).toBeLessThan(2_000);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('refuses an upgrade without a valid agent key before the handshake, with the uniform 401 body', async () => {
    const agent = await enroll(t.server, admin, 'refused');
    const forged = `${agent.apiKey.slice(0, -4)}AAAA` === agent.apiKey ? `${agent.apiKey.slice(0, -4)}BBBB` : `${agent.apiKey.slice(0, -4)}AAAA`;
    for (const headers of [{}, { authorization: `Bearer ${forged}` }, { authorization: 'Bearer not-a-key' }] as Array<Record<string, string>>) {
      const { ws, outcome } = upgrade(t.server, headers);
      const got = await outcome;
      expect(got.status).toBe(401);
      expect(JSON.parse(got.body)).toEqual({ error: { code: 'unauthorized', message: 'authentication required' } });
      ws.terminate();
    }
    expect(t.server.services.fleet.channels.connected(agent.agentId)).toBe(false);
    // A plain GET learns it must upgrade; without a key it is refused like any agent route.
    expect((await admin.get('/api/agent/channel')).status).toBe(401);
    expect((await t.client().get('/api/agent/channel', { bearer: agent.apiKey })).status).toBe(426);
  });

  it('refuses an upgrade from a blocked address even with a valid key', async () => {
    const agent = await enroll(t.server, admin, 'blocked');
    const blocks = t.server.services.perimeter.blocks;
    const refusedBefore = t.server.services.perimeter.stats.refused.ip_blocked;
    await blocks.block(subjectOf('127.0.0.1'), 'auth_failures', 1, 60_000);
    try {
      const { ws, outcome } = upgrade(t.server, { authorization: `Bearer ${agent.apiKey}` });
      const got = await outcome;
      expect(got.status).toBe(403);
      expect(JSON.parse(got.body).error.code).toBe('ip_blocked');
      expect(t.server.services.perimeter.stats.refused.ip_blocked).toBe(refusedBefore + 1);
      ws.terminate();
    } finally {
      await blocks.lift(subjectOf('127.0.0.1'));
    }
    expect(t.server.services.fleet.channels.connected(agent.agentId)).toBe(false);
  });

  it('limits upgrades per agent', async () => {
    const agent = await enroll(t.server, admin, 'limited');
    const headers = { authorization: `Bearer ${agent.apiKey}` };
    for (let i = 0; i < UPGRADES_PER_MINUTE; i++) {
      const { ws, outcome } = upgrade(t.server, headers);
      expect((await outcome).status).toBe('open');
      const gone = closed(ws);
      ws.close();
      await gone;
    }
    const { ws, outcome } = upgrade(t.server, headers);
    expect((await outcome).status).toBe(429);
    ws.terminate();
  });

  it('a second connection replaces the first, and the disconnect event fires when the last one closes', async () => {
    const agent = await enroll(t.server, admin, 'twice');
    const channels = t.server.services.fleet.channels;
    const events: Array<{ agentId: string; at: number }> = [];
    const off = channels.onAgentDisconnected((agentId, at) => events.push({ agentId, at }));
    try {
      const headers = { authorization: `Bearer ${agent.apiKey}` };
      const first = upgrade(t.server, headers);
      expect((await first.outcome).status).toBe('open');
      const firstClosed = closed(first.ws);
      const second = upgrade(t.server, headers);
      expect((await second.outcome).status).toBe('open');
      expect(await firstClosed).toBe(REPLACED_CLOSE_CODE);
      expect(channels.connected(agent.agentId)).toBe(true);
      // The replaced connection's close is not a disconnect: the agent is still here.
      expect(events.filter((e) => e.agentId === agent.agentId)).toEqual([]);

      const before = Date.now();
      second.ws.terminate();
      await vi.waitFor(() => expect(events.filter((e) => e.agentId === agent.agentId)).toHaveLength(1), { timeout: 2_000, interval: 20 });
      expect(events.find((e) => e.agentId === agent.agentId)?.at).toBeGreaterThanOrEqual(before);
      expect(channels.connected(agent.agentId)).toBe(false);
    } finally {
      off();
    }
  });
});

describe('agent channel across a server restart', () => {
  it('the agent reconnects to a new server on the same port and data dir, and commands flow again', async () => {
    const first = await startTestServer({ env: ENV });
    const client = await adminClient(first);
    const agent = await enroll(first.server, client, 'restart');
    const stop = new AbortController();
    const running = runAgent({ stateDir: agent.dir, signal: stop.signal, log: recordingLog(), channelBackoff: { baseMs: 100, capMs: 1_000 } });
    let second: RunningServer | null = null;
    try {
      await vi.waitFor(() => expect(first.server.services.fleet.channels.connected(agent.agentId)).toBe(true), { timeout: 15_000, interval: 50 });
      const gone: string[] = [];
      first.server.services.fleet.channels.onAgentDisconnected((agentId) => gone.push(agentId));
      client.close();
      await first.server.close();
      // A node shutting down is not an agent going away.
      expect(gone).toEqual([]);
      second = await startServer({ ...first.config, server: { ...first.config.server, port: first.server.port } }, { print: () => {}, log: createLogger('silent') });
      const again = second;
      await vi.waitFor(() => expect(again.services.fleet.channels.connected(agent.agentId)).toBe(true), { timeout: 15_000, interval: 50 });
      const fresh = first.client();
      // The admin's password was changed at the first start; log in with it on the new process.
      const login = await fresh.post('/api/auth/login', { username: 'admin', password: 'Correct-Horse-Battery-9' });
      expect(login.status).toBe(200);
      const { approvedAt, startedAt } = await pingWithin(fresh, agent.agentId, 2_000);
      expect(startedAt - approvedAt).toBeLessThan(2_000);
    } finally {
      stop.abort();
      await running;
      await second?.close();
      // The first process is closed already; only its data dir is left.
      await rm(first.config.dataDir, { recursive: true, force: true });
    }
  });
});

describe('a channel whose key stops authenticating', () => {
  let k: TestServer;
  let client: HttpsClient;
  beforeAll(async () => {
    // No grace: a rotated key stops working at once.
    k = await startTestServer({ env: { ...ENV, FLOTILLA_FLEET_KEY_GRACE_SECONDS: '0' } });
    client = await adminClient(k);
  });
  afterAll(async () => k?.close());

  it('is closed at the next delivery and gets no command; the new key gets it', async () => {
    const agent = await enroll(k.server, client, 'rotated');
    const old = upgrade(k.server, { authorization: `Bearer ${agent.apiKey}` });
    expect((await old.outcome).status).toBe('open');
    const frames: string[] = [];
    old.ws.on('message', (data: Buffer) => frames.push(data.toString()));
    const oldClosed = closed(old.ws);

    const rotated = await client.send('POST', `/api/admin/agents/${agent.agentId}/rotate?apiKey=true`);
    expect(rotated.status).toBe(200);
    const created = await client.send('POST', '/api/commands', { action: 'ping', params: {}, targets: { machines: [agent.agentId] } });
    expect(created.status).toBe(201);
    expect(await oldClosed).toBe(KEY_INVALID_CLOSE_CODE);
    expect(frames).toEqual([]);
    expect(k.server.services.fleet.channels.connected(agent.agentId)).toBe(false);
    const shown = await client.get(`/api/commands/${created.json.id as string}`);
    expect(shown.json.machines[0].state).toBe('queued');

    const fresh = upgrade(k.server, { authorization: `Bearer ${rotated.json.apiKey as string}` });
    const frame = new Promise<string>((resolve) => fresh.ws.once('message', (data: Buffer) => resolve(data.toString())));
    expect((await fresh.outcome).status).toBe('open');
    const pushed = JSON.parse(await frame) as { type: string; commands: Array<{ id: string; agentId: string }> };
    expect(pushed.type).toBe('commands');
    expect(pushed.commands.map((c) => c.agentId)).toEqual([agent.agentId]);
    expect(shown.json.machines[0].commandId).toBe(pushed.commands[0]?.id);
    fresh.ws.close();
  });
});

describe.skipIf(!modes().find((m) => m.mode === 'cluster')?.available)('agent channel in cluster mode', () => {
  let a: TestServer;
  let b: RunningServer;
  let dataDir: string;
  let client: HttpsClient;
  beforeAll(async () => {
    a = await startTestServer({ mode: 'cluster', env: ENV });
    client = await adminClient(a);
    // Node B: the same database, Redis, prefix and secrets, its own data dir and port.
    dataDir = mkdtempSync(join(tmpdir(), 'flotilla-node-b-'));
    b = await startServer({ ...a.config, dataDir, server: { ...a.config.server, port: 0 } }, { print: () => undefined, log: createLogger('silent') });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a command approved on node A reaches, within 2 s, an agent connected to node B', async () => {
    const agent = await enroll(b, client, 'cluster');
    const stop = new AbortController();
    const running = runAgent({ stateDir: agent.dir, signal: stop.signal, log: recordingLog() });
    try {
      await vi.waitFor(() => expect(b.services.fleet.channels.connected(agent.agentId)).toBe(true), { timeout: 15_000, interval: 50 });
      await vi.waitFor(async () => expect((await new FileIdentityStore(agent.dir).read()).seq).toBeGreaterThanOrEqual(1), { timeout: 15_000, interval: 50 });
      expect(a.server.services.fleet.channels.connected(agent.agentId)).toBe(false);
      const { approvedAt, startedAt } = await pingWithin(client, agent.agentId, 2_000);
      expect(startedAt - approvedAt).toBeLessThan(2_000);
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe('agent channel heartbeat and limits', () => {
  let h: TestServer;
  let client: HttpsClient;
  beforeAll(async () => {
    h = await startTestServer({ env: { ...ENV, FLOTILLA_FLEET_CHANNEL_HEARTBEAT_SECONDS: '1' } });
    client = await adminClient(h);
  });
  afterAll(async () => h?.close());

  it('drops a connection that stops answering pings, and signals the disconnect', async () => {
    const agent = await enroll(h.server, client, 'silent');
    const gone: string[] = [];
    const off = h.server.services.fleet.channels.onAgentDisconnected((agentId) => gone.push(agentId));
    try {
      // A half-open connection: the TCP socket stays, nothing answers.
      const ws = new WebSocket(`wss://127.0.0.1:${h.server.port}/api/agent/channel`, { ca: h.server.certificate.certPem, headers: { authorization: `Bearer ${agent.apiKey}` }, autoPong: false });
      await new Promise((resolve) => ws.once('open', resolve));
      const opened = Date.now();
      expect(h.server.services.fleet.channels.connected(agent.agentId)).toBe(true);
      await vi.waitFor(() => expect(gone).toContain(agent.agentId), { timeout: 5_000, interval: 50 });
      // Within two heartbeats (and a little scheduling slack).
      expect(Date.now() - opened).toBeLessThan(3_000);
      expect(h.server.services.fleet.channels.connected(agent.agentId)).toBe(false);
      ws.terminate();
    } finally {
      off();
    }
  });

  it('keeps a connection that answers pings', async () => {
    const agent = await enroll(h.server, client, 'alive');
    const open = upgrade(h.server, { authorization: `Bearer ${agent.apiKey}` });
    expect((await open.outcome).status).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(h.server.services.fleet.channels.connected(agent.agentId)).toBe(true);
    open.ws.close();
  });

  it('closes a connection that sends a frame over the size bound', async () => {
    const agent = await enroll(h.server, client, 'big');
    const open = upgrade(h.server, { authorization: `Bearer ${agent.apiKey}` });
    expect((await open.outcome).status).toBe('open');
    const code = closed(open.ws);
    open.ws.send('x'.repeat(8 * 1024));
    expect(await code).toBe(1009);
  });
});

describe('agent channel reconnects', () => {
  it('backs off exponentially with full jitter up to the cap while the server refuses it', async () => {
    const delays: number[] = [];
    const stop = new AbortController();
    const lines: string[] = [];
    await keepChannel(
      {
        serverUrl: new URL(`https://127.0.0.1:${t.server.port}`),
        tlsAgent: async () => new https.Agent({ ca: t.server.certificate.certPem }),
        apiKey: () => 'fla_not_a_key',
        onCommands: () => expect.unreachable('a refused channel delivers nothing'),
        log: { info: (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`), warn: () => {}, error: () => {} },
        backoff: { baseMs: 1_000, capMs: 8_000 },
        // The top of each window, so the exponent is visible; real agents draw uniformly below it.
        random: () => 0.999,
        sleep: async (ms) => {
          delays.push(ms);
          if (delays.length === 6) stop.abort();
        },
      },
      stop.signal,
    );
    expect(delays).toEqual([999, 1998, 3996, 7992, 7992, 7992]);
    expect(lines[0]).toMatch(/refused with HTTP 401/);
  });
});
