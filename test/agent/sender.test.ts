import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { enrollAgent } from '../../src/agent/enroll.js';
import { MemoryIdentityStore, type AgentState } from '../../src/agent/identity.js';
import { ReportSender, type SenderOptions } from '../../src/agent/sender.js';
import { MemorySpool } from '../../src/agent/spool.js';
import { AgentTransport } from '../../src/agent/transport.js';
import { ManualClock, systemClock, type Clock } from '../../src/lib/clock.js';
import { openEnvelope, reportAad, sealRekey } from '../../src/protocol/sealing.js';
import { error, FakeAgentServer } from './fake-server.js';
import { recordingLog } from './recording-log.js';

type R = { collectedAt: number; n: number };

let server: FakeAgentServer;
let transport: AgentTransport;
beforeAll(async () => {
  server = await FakeAgentServer.start();
  transport = new AgentTransport(server.url, { kind: 'pin', fingerprint: server.cert.fingerprint });
});
afterAll(async () => {
  transport.close();
  await server.close();
});

interface Rig {
  state: AgentState;
  spool: MemorySpool<R>;
  sender: ReportSender<R>;
  log: ReturnType<typeof recordingLog>;
  sleeps: number[];
  commands: unknown[][];
  clock: Clock;
  fill(count: number): Promise<void>;
}

async function rig(opts: Partial<SenderOptions<R>> & { clock?: Clock } = {}): Promise<Rig> {
  const clock = opts.clock ?? systemClock;
  const state = await enrollAgent({ serverUrl: server.url, token: server.token, trust: { kind: 'pin', fingerprint: server.cert.fingerprint }, facts: {}, store: new MemoryIdentityStore(), clock, poster: transport });
  const spool = new MemorySpool<R>(clock);
  const log = recordingLog();
  const sleeps: number[] = [];
  const commands: unknown[][] = [];
  const sender = new ReportSender<R>({
    state,
    poster: transport,
    spool,
    clock,
    log,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    backoff: { baseMs: 1000, capMs: 3000 },
    onCommands: (cmds) => {
      commands.push(cmds);
    },
    ...opts,
  });
  let n = 0;
  return {
    state,
    spool,
    sender,
    log,
    sleeps,
    commands,
    clock,
    async fill(count) {
      for (let i = 0; i < count; i++, n++) await spool.push({ collectedAt: clock.nowMs(), n }, clock.nowMs());
    },
  };
}

let opened0 = 0;
let requests0 = 0;
beforeEach(() => {
  opened0 = server.opened.length;
  requests0 = server.reportRequests.length;
  server.script.length = 0;
  server.intervalSeconds = 10;
  server.commands = [];
});
afterEach(() => {
  server.script.length = 0;
});
const newOpened = () => server.opened.slice(opened0);
const newRequests = () => server.reportRequests.slice(requests0);

describe('report sender', () => {
  it('seals with the per-agent key; the AAD binds agent, kid, ts and seq', async () => {
    const r = await rig();
    await r.fill(2);
    const before = Date.now();
    expect(await r.sender.sendOnce()).toEqual({ kind: 'sent', count: 2, accepted: 2 });
    const [req] = newRequests();
    expect(req?.authorization).toBe(`Bearer ${r.state.identity.apiKey}`);
    const env = req?.body as Parameters<typeof openEnvelope>[1];
    expect(Object.keys(env).sort()).toEqual(['ct', 'kid', 'nonce', 'seq', 'ts', 'v']);
    expect(env).toMatchObject({ v: 1, kid: 1, seq: 1 });
    expect(env.ts).toBeGreaterThanOrEqual(before);
    const { agentId } = r.state.identity;
    const key = server.keyOf(agentId, 1);
    const plain = openEnvelope(key, env, reportAad(agentId, 1, env.ts, env.seq));
    expect(JSON.parse(Buffer.from(plain ?? []).toString('utf8'))).toEqual({ reports: [expect.objectContaining({ n: 0 }), expect.objectContaining({ n: 1 })] });
    // Any other ts, seq or agent in the AAD and it does not open.
    expect(openEnvelope(key, env, reportAad(agentId, 1, env.ts, env.seq + 1))).toBeNull();
    expect(openEnvelope(key, env, reportAad(agentId, 1, env.ts + 1, env.seq))).toBeNull();
    expect(openEnvelope(key, env, reportAad('someone-else', 1, env.ts, env.seq))).toBeNull();
    expect(r.spool.length).toBe(0);
    // Nothing secret in the log.
    expect(r.log.text()).not.toContain(r.state.identity.apiKey.split('_').at(-1));
    expect(r.log.text()).not.toContain(r.state.identity.sealingKey);
  });

  it('sends at most 100 reports per envelope, in order, each with a higher seq', async () => {
    const r = await rig();
    await r.fill(250);
    await r.sender.drain();
    const opened = newOpened();
    expect(opened.map((o) => o.reports.length)).toEqual([100, 100, 50]);
    expect(opened.flatMap((o) => o.reports.map((x) => (x as R).n))).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(opened.map((o) => o.envelope.seq)).toEqual([1, 2, 3]);
    expect(r.spool.length).toBe(0);
  });

  it('also bounds an envelope by bytes', async () => {
    const r = await rig({ maxBatchBytes: 200 });
    await r.fill(10);
    await r.sender.drain();
    const sizes = newOpened().map((o) => o.reports.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThan(10);
  });

  it('drops a batch answered 409 and carries on', async () => {
    const r = await rig();
    await r.fill(3);
    server.script.push(error(409, 'replay'));
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'dropped', count: 3, reason: 'replay' });
    expect(r.spool.length).toBe(0);
    await r.fill(1);
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'sent', count: 1 });
    expect(newOpened().flatMap((o) => o.reports.map((x) => (x as R).n))).toEqual([3]);
  });

  it('re-seals after stale_timestamp with the server time and a higher seq', async () => {
    // This machine's clock runs 10 minutes slow: the real check of the fake server refuses it.
    const clock = new ManualClock(Date.now() - 10 * 60_000);
    const r = await rig({ clock });
    await r.fill(2);
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'sent', count: 2 });
    const [stale, fresh] = newRequests().map((q) => q.body as { ts: number; seq: number });
    expect(stale && fresh).toBeTruthy();
    expect(fresh!.seq).toBeGreaterThan(stale!.seq);
    expect(fresh!.ts - stale!.ts).toBeGreaterThan(9 * 60_000);
    expect(Math.abs(fresh!.ts - Date.now())).toBeLessThan(5_000);
    // The reports keep their own measurement time.
    expect((newOpened()[0]?.reports[0] as R).collectedAt).toBe(clock.nowMs());
  });

  it('keeps the reports when the timestamp is refused again and again, without looping', async () => {
    const r = await rig();
    await r.fill(1);
    for (let i = 0; i < 5; i++) server.script.push(error(400, 'stale_timestamp'));
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'retry' });
    expect(newRequests()).toHaveLength(3);
    expect(r.spool.length).toBe(1);
  });

  it('keeps the batch on 5xx and backs off exponentially with full jitter, capped', async () => {
    const spooled: number[] = [];
    const r = await rig();
    await r.fill(4);
    for (let i = 0; i < 4; i++) server.script.push(error(503, 'unavailable'));
    const sender = new ReportSender<R>({
      state: r.state,
      poster: transport,
      spool: r.spool,
      clock: systemClock,
      log: r.log,
      random: () => 0.5,
      backoff: { baseMs: 1000, capMs: 3000 },
      sleep: async (ms) => {
        r.sleeps.push(ms);
        spooled.push(r.spool.length);
      },
    });
    await sender.drain();
    // random 0.5 of min(cap, base·2^(n-1)): 1000, 2000, then the 3000 cap.
    expect(r.sleeps).toEqual([500, 1000, 1500, 1500]);
    expect(spooled).toEqual([4, 4, 4, 4]);
    expect(r.spool.length).toBe(0);
    expect(newOpened().map((o) => o.reports.length)).toEqual([4]);
    expect(sender.failures).toBe(0);
  });

  it('full jitter spreads delays over [0, ceiling)', async () => {
    const values = [0, 0.999];
    const r = await rig({ random: () => values.shift() ?? 0.25 });
    await r.fill(1);
    server.script.push(error(500, 'internal'), error(502, 'bad_gateway'), error(500, 'internal'));
    await r.sender.drain();
    expect(r.sleeps).toEqual([0, 1998, 750]);
  });

  it('honours Retry-After on 429 and keeps the reports', async () => {
    const r = await rig();
    await r.fill(2);
    server.script.push(error(429, 'rate_limited', { 'retry-after': '2' }));
    await r.sender.drain();
    expect(r.sleeps).toEqual([2000]);
    expect(newOpened().map((o) => o.reports.length)).toEqual([2]);
  });

  it('keeps the reports through network errors', async () => {
    const down = await FakeAgentServer.start();
    const url = down.url;
    const cert = down.cert;
    await down.close();
    const r = await rig();
    const offline = new ReportSender<R>({ state: r.state, poster: new AgentTransport(url, { kind: 'ca', caPem: cert.certPem }), spool: r.spool, clock: systemClock, log: r.log });
    await r.fill(3);
    expect(await offline.sendOnce()).toMatchObject({ kind: 'retry' });
    expect(r.spool.length).toBe(3);
    expect(r.log.lines.at(-1)?.msg).toMatch(/keeping them/);
  });

  it('logs and drops on any other refusal, so it never loops forever', async () => {
    const r = await rig();
    await r.fill(3);
    server.script.push(error(401, 'unauthorized'));
    await r.sender.drain();
    expect(r.spool.length).toBe(0);
    expect(r.sleeps).toEqual([]);
    const line = r.log.lines.find((l) => l.level === 'error');
    expect(line?.fields).toMatchObject({ status: 401, code: 'unauthorized', hint: expect.stringMatching(/re-enroll/) });

    await r.fill(1);
    server.script.push(error(400, 'invalid_body'));
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'dropped', reason: 'invalid_body' });
  });

  it('halves the batch on 413 and drops a single report the server cannot take', async () => {
    const r = await rig();
    await r.fill(10);
    server.script.push(error(413, 'payload_too_large'));
    await r.sender.drain();
    expect(newOpened().map((o) => o.reports.length)).toEqual([5, 5]);
    await r.fill(1);
    server.script.push(error(413, 'payload_too_large'));
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'dropped', count: 1 });
  });

  it('applies a rekey: opens it with the old key, seals with the new kid from then on', async () => {
    const r = await rig();
    const { agentId } = r.state.identity;
    await r.fill(1);
    await r.sender.sendOnce();
    const newKid = server.rotate(agentId);
    await r.fill(1);
    await r.sender.sendOnce();
    expect(r.state.identity.kid).toBe(newKid);
    expect(Buffer.from(r.state.sealingKey).equals(Buffer.from(server.keyOf(agentId, newKid)))).toBe(true);
    await r.fill(1);
    await r.sender.sendOnce();
    expect(newOpened().map((o) => o.envelope.kid)).toEqual([1, 1, 2]);
    expect(r.log.lines.some((l) => l.msg === 'sealing key rotated')).toBe(true);
  });

  it('refuses a rekey that does not open with the current key', async () => {
    const r = await rig();
    const { agentId } = r.state.identity;
    const forged = sealRekey(new Uint8Array(32).fill(7), agentId, 2, new Uint8Array(32).fill(9));
    server.script.push({ status: 200, body: { accepted: 1, commands: [], intervalSeconds: 10, rekey: forged } });
    await r.fill(1);
    expect(await r.sender.sendOnce()).toMatchObject({ kind: 'sent' });
    expect(r.state.identity.kid).toBe(1);
    expect(Buffer.from(r.state.sealingKey).equals(Buffer.from(server.keyOf(agentId, 1)))).toBe(true);
    expect(r.log.lines.some((l) => l.level === 'error' && /does not open/.test(l.msg))).toBe(true);
  });

  it('applies the interval and hands commands on', async () => {
    const r = await rig();
    server.intervalSeconds = 30;
    server.commands = [{ id: 'c1' }];
    await r.fill(1);
    await r.sender.sendOnce();
    expect(r.state.identity.intervalSeconds).toBe(30);
    expect(r.commands).toEqual([[{ id: 'c1' }]]);
  });

  it('reports an empty spool without a request', async () => {
    const r = await rig();
    expect(await r.sender.sendOnce()).toEqual({ kind: 'empty' });
    expect(newRequests()).toHaveLength(0);
  });
});
