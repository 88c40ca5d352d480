import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileIdentityStore } from '../../src/agent/identity.js';
import { runAgent } from '../../src/agent/run.js';
import { simulateFleet } from '../../src/agent/simulate.js';
import { buildProgram } from '../../src/cli/main.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { recordingLog } from './recording-log.js';

let t: TestServer;
let admin: HttpsClient;
let root: string;
beforeAll(async () => {
  t = await startTestServer();
  admin = await adminClient(t);
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-e2e-'));
});
afterAll(async () => {
  await t?.close();
  await rm(root, { recursive: true, force: true });
});

async function enrollmentToken(maxUses: number): Promise<string> {
  const created = await admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 600, maxUses });
  expect(created.status).toBe(201);
  return created.json.token as string;
}

interface MachineRow {
  id: string;
  hostname: string;
  platform: string;
  status: string;
  cpu: number | null;
  memory: number | null;
}

async function machines(): Promise<MachineRow[]> {
  const reply = await admin.get('/api/fleet/machines?limit=500');
  expect(reply.status).toBe(200);
  return reply.json.items as MachineRow[];
}

describe('agent against the real server', () => {
  it('enrolls with the printed pin and delivers real reports that show up in the fleet', async () => {
    const token = await enrollmentToken(1);
    const dir = join(root, 'agent');
    const out: string[] = [];
    await buildProgram((line) => out.push(line)).parseAsync([
      'node', 'flotilla', 'agent', 'enroll',
      '--server', `https://127.0.0.1:${t.server.port}`,
      '--token', token,
      '--pin', t.server.certificate.fingerprint,
      '--state-dir', dir,
    ]);
    const agentId = /^enrolled agent (\S+)$/.exec(out[0] ?? '')?.[1] ?? '';
    expect(agentId).not.toBe('');
    expect((await stat(join(dir, 'agent.json'))).mode & 0o777).toBe(0o600);

    const stop = new AbortController();
    const log = recordingLog();
    const running = runAgent({ stateDir: dir, signal: stop.signal, log });
    try {
      await vi.waitFor(
        async () => {
          const row = (await machines()).find((m) => m.id === agentId);
          expect(row?.status).toBe('online');
          expect(row?.cpu).not.toBeNull();
          expect(row?.memory).not.toBeNull();
        },
        { timeout: 30_000, interval: 250 },
      );
    } finally {
      stop.abort();
      await running;
    }
    const detail = await admin.get(`/api/fleet/machines/${agentId}`);
    expect(detail.status).toBe(200);
    expect(detail.json.facts.platform).toBe(process.platform);
    expect(detail.json.latest.processes.count).toBeGreaterThan(0);
    // Every envelope was accepted: nothing refused, nothing left to retry.
    expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    const identity = await new FileIdentityStore(dir).read();
    expect(identity.seq).toBeGreaterThanOrEqual(1);

    // Key rotation: the next answer carries the new key sealed under the old one.
    const rotated = await admin.send('POST', `/api/admin/agents/${agentId}/rotate`);
    expect(rotated.status).toBe(200);
    const newKid = rotated.json.kid as number;
    expect(newKid).toBe(identity.kid + 1);
    const again = new AbortController();
    const restarted = runAgent({ stateDir: dir, signal: again.signal, log });
    try {
      await vi.waitFor(async () => expect((await new FileIdentityStore(dir).read()).kid).toBe(newKid), { timeout: 30_000, interval: 250 });
      const seqAfterRekey = (await new FileIdentityStore(dir).read()).seq;
      // A report sealed under the new key is accepted too.
      await vi.waitFor(async () => expect((await new FileIdentityStore(dir).read()).seq).toBeGreaterThan(seqAfterRekey), { timeout: 30_000, interval: 250 });
    } finally {
      again.abort();
      await restarted;
    }
    expect(log.lines.some((l) => l.msg === 'sealing key rotated')).toBe(true);
    expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
  });

  it('refuses to talk to the server under a wrong pin', async () => {
    const token = await enrollmentToken(1);
    const out: string[] = [];
    const failed = await buildProgram((line) => out.push(line))
      .parseAsync(['node', 'flotilla', 'agent', 'enroll', '--server', `https://127.0.0.1:${t.server.port}`, '--token', token, '--pin', `sha256:${'1'.repeat(64)}`, '--state-dir', join(root, 'wrong')])
      .then(() => null, (err: unknown) => err);
    expect(String(failed)).toMatch(/does not match the pinned/);
  });

  it('simulates machines whose hostnames reach the fleet list verbatim', async () => {
    const hostname = '<img src=x onerror=alert(1)>';
    const summary = await simulateFleet({
      serverUrl: `https://127.0.0.1:${t.server.port}`,
      token: await enrollmentToken(3),
      trust: { kind: 'pin', fingerprint: t.server.certificate.fingerprint },
      count: 3,
      rounds: 2,
      hostname,
      sleep: async () => {},
    });
    expect(summary.failures).toBe(0);
    expect(summary.reportsSent).toBe(6);
    const rows = await machines();
    const sim = rows.filter((m) => summary.machines.some((s) => s.agentId === m.id));
    expect(sim.map((m) => m.hostname).sort()).toEqual([hostname, `${hostname}-2`, `${hostname}-3`].sort());
    for (const m of sim) expect(m.cpu).not.toBeNull();
  });
});
