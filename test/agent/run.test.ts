import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { enrollAgent } from '../../src/agent/enroll.js';
import { FileIdentityStore } from '../../src/agent/identity.js';
import { runAgent } from '../../src/agent/run.js';
import { simulateFleet } from '../../src/agent/simulate.js';
import { SyntheticMachine } from '../../src/agent/synthetic.js';
import { ReportSchema, type Report } from '../../src/protocol/report.js';
import { systemClock } from '../../src/lib/clock.js';
import { FakeAgentServer } from './fake-server.js';
import { recordingLog } from './recording-log.js';

let root: string;
let server: FakeAgentServer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-run-'));
  server = await FakeAgentServer.start();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('agent run loop', () => {
  it('spools while the server is unreachable and replays in order after a restart', async () => {
    const dir = join(root, 'agent');
    server.intervalSeconds = 1;
    const trust = { kind: 'pin' as const, fingerprint: server.cert.fingerprint };
    const state = await enrollAgent({ serverUrl: server.url, token: server.token, trust, facts: {}, store: new FileIdentityStore(dir), clock: systemClock });
    const agentId = state.identity.agentId;
    const mine = () => server.opened.filter((o) => o.agentId === agentId);
    // Synthetic metrics keep this test fast; collect.test.ts and e2e.test.ts use the real collector.
    const machine = new SyntheticMachine(0, 1, Date.now());
    const collect = async () => machine.next(Date.now(), 1);

    // First run: the server is down; reports pile up on disk.
    server.down = true;
    const offline = new AbortController();
    const log = recordingLog();
    const first = runAgent({ stateDir: dir, signal: offline.signal, log, collect, backoff: { baseMs: 20, capMs: 100 } });
    const spoolDir = join(dir, 'spool');
    await vi.waitFor(async () => expect((await readdir(spoolDir).catch(() => [])).filter((f) => f.endsWith('.json')).length).toBeGreaterThanOrEqual(2), { timeout: 15_000, interval: 100 });
    offline.abort();
    await first;
    const spooled = (await readdir(spoolDir)).filter((f) => f.endsWith('.json'));
    for (const f of spooled) expect((await stat(join(spoolDir, f))).mode & 0o777).toBe(0o600);
    expect(mine()).toHaveLength(0);
    expect(log.lines.some((l) => /keeping them for a retry/.test(l.msg))).toBe(true);

    // Second run: the server is back; the backlog goes first, in order, then new reports.
    server.down = false;
    const online = new AbortController();
    const second = runAgent({ stateDir: dir, signal: online.signal, log: recordingLog(), collect });
    await vi.waitFor(() => expect(mine().flatMap((o) => o.reports).length).toBeGreaterThan(spooled.length), { timeout: 15_000, interval: 100 });
    online.abort();
    await second;

    const reports = mine().flatMap((o) => o.reports) as Report[];
    for (const r of reports) expect(Value.Errors(ReportSchema, r)).toEqual([]);
    const times = reports.map((r) => r.collectedAt);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(reports[0]?.facts).toBeDefined();
    const seqs = mine().map((o) => o.envelope.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect((await readdir(spoolDir)).filter((f) => f.endsWith('.json')).length).toBeLessThanOrEqual(1);
  });
});

describe('fleet simulator', () => {
  it('enrolls N machines and sends valid, varied reports, keeping a given hostname verbatim', async () => {
    const hostname = '<img src=x onerror=alert(1)>';
    const before = server.opened.length;
    const enrolled: string[] = [];
    const summary = await simulateFleet({
      serverUrl: server.url,
      token: server.token,
      trust: { kind: 'pin', fingerprint: server.cert.fingerprint },
      count: 6,
      rounds: 3,
      hostname,
      concurrency: 3,
      sleep: async () => {},
      onEnrolled: (machines) => enrolled.push(...machines.map((m) => m.agentId)),
    });
    expect(summary.machines).toHaveLength(6);
    expect(enrolled).toEqual(summary.machines.map((m) => m.agentId));
    expect(summary.machines.map((m) => m.hostname)).toEqual([hostname, ...[2, 3, 4, 5, 6].map((i) => `${hostname}-${i}`)]);
    expect(summary.reportsSent).toBe(18);
    expect(summary.failures).toBe(0);
    const opened = server.opened.slice(before);
    expect(new Set(opened.map((o) => o.agentId)).size).toBe(6);
    const reports = opened.flatMap((o) => o.reports) as Report[];
    expect(reports).toHaveLength(18);
    for (const r of reports) expect(Value.Errors(ReportSchema, r)).toEqual([]);
    expect(reports.filter((r) => r.facts).map((r) => r.facts?.hostname)).toContain(hostname);
  });

  it('generates distinct names without --hostname', async () => {
    const summary = await simulateFleet({
      serverUrl: server.url,
      token: server.token,
      trust: { kind: 'pin', fingerprint: server.cert.fingerprint },
      count: 10,
      rounds: 1,
      seed: 7,
      sleep: async () => {},
    });
    expect(new Set(summary.machines.map((m) => m.hostname)).size).toBe(10);
  });
});
