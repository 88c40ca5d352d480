/**
 * bench:ingest — what sealed agent reports cost the server.
 *   1. history: sealed reports/s with 5 million history rows stored (raw samples and
 *      rollups), against the same server on an empty database (target ratio >= 0.9)
 *   2. headline: sealed reports/s from 1,000 enrolled agents, against a bare Fastify
 *      HTTPS server that takes the same bodies and answers a small JSON (target ratio >= 0.5)
 * One client drives all three servers: 1,000 simulated agents (the agent's own
 * enrollment, sender and sealing), 64 requests in flight, each agent one at a time.
 * The three servers run side by side and are measured in interleaved rounds of
 * about a second, so drift and other work on this small machine hit them alike.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { enrollAgent } from '../src/agent/enroll.js';
import { MemoryIdentityStore } from '../src/agent/identity.js';
import { silentLog } from '../src/agent/log.js';
import { ReportSender } from '../src/agent/sender.js';
import { MemorySpool } from '../src/agent/spool.js';
import { SyntheticMachine } from '../src/agent/synthetic.js';
import { AgentTransport, type AgentPoster, type AgentReply } from '../src/agent/transport.js';
import type { Report } from '../src/protocol/report.js';
import { systemClock } from '../src/lib/clock.js';
import { Semaphore } from '../src/lib/semaphore.js';
import { TLS_OPTIONS } from '../src/server/tls.js';
import { adminBearer, caller, cpuTimeMs, mean, pairedRatio, printFigure, startBenchServer, startChildListener, throughput, type BenchServer, type ChildListener } from './lib.js';

const ECHO_FLAG = '--echo-server';
const AGENTS = 1000;
const CONCURRENCY = 64;
/** Measured time per server, in rounds of about a second (an even number, see below). */
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const ROUNDS = 2 * Math.max(2, Math.round(DURATION_MS / 2000));
const WARM_MS = 2000;
const INTERVAL_SECONDS = 10;
/** 5,000,000 history rows over the 1,000 machines: ~11 h of raw samples, 15 h of minutes, ~4 days of hours. */
const RAW_PER_MACHINE = 4000;
const MINUTE_PER_MACHINE = 900;
const HOUR_PER_MACHINE = 100;
const PASSWORD = 'Bench-Owner-Password-1';
/**
 * 1,000 enrollments and the admin calls come from one address, far over the
 * per-IP limit (100/min). The per-agent limit (300/min each) stays at its
 * default: 1,000 agents taking turns could send 5,000 reports/s before it binds,
 * well above what this machine reaches (any 429 would fail the run below).
 */
const SERVER_ENV = { FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '1000000' };

/** The bare baseline: Fastify with the server's TLS policy and certificate, parsing the JSON body, answering a small JSON the agent reads as delivered. */
async function serveEcho(certFile: string, keyFile: string): Promise<void> {
  const app = Fastify({ https: { ...TLS_OPTIONS, cert: readFileSync(certFile), key: readFileSync(keyFile) }, bodyLimit: 256 * 1024 });
  app.post('/api/agent/report', async () => ({ accepted: 1, commands: [], intervalSeconds: INTERVAL_SECONDS }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  process.stdout.write(`listening port=${typeof address === 'object' && address ? address.port : 0}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

/** What one server answered during the measured rounds. */
interface Tally {
  requests: number;
  /** Status (0 = no answer) -> count, for everything but 2xx. */
  failures: Map<number, number>;
  reports: number;
  accepted: number;
}

const newTally = (): Tally => ({ requests: 0, failures: new Map(), reports: 0, accepted: 0 });

/** The poster every simulated agent sends through; it points at one server at a time and counts the answers. */
class SwitchingPoster implements AgentPoster {
  target: AgentPoster | null = null;
  tally = newTally();

  async post(path: string, body: unknown, bearer?: string): Promise<AgentReply> {
    if (!this.target) throw new Error('no server selected');
    this.tally.requests++;
    try {
      const reply = await this.target.post(path, body, bearer);
      if (reply.status < 200 || reply.status >= 300) this.tally.failures.set(reply.status, (this.tally.failures.get(reply.status) ?? 0) + 1);
      return reply;
    } catch (err) {
      this.tally.failures.set(0, (this.tally.failures.get(0) ?? 0) + 1);
      throw err;
    }
  }
}

interface SimAgent {
  machine: SyntheticMachine;
  spool: MemorySpool<Report>;
  sender: ReportSender<Report>;
}

/**
 * 1,000 enrolled identities taking turns: an agent leaves the queue while its
 * report is in flight, so its seq always rises from one request to the next.
 */
class AgentPool {
  readonly #idle: SimAgent[];

  constructor(agents: SimAgent[]) {
    this.#idle = [...agents];
  }

  async sendOne(tally: Tally): Promise<void> {
    const agent = this.#idle.shift();
    if (!agent) throw new Error('more requests in flight than agents');
    try {
      const now = systemClock.nowMs();
      await agent.spool.push(agent.machine.next(now, INTERVAL_SECONDS), now);
      const outcome = await agent.sender.sendOnce();
      if (outcome.kind === 'sent') {
        tally.reports += outcome.count;
        tally.accepted += outcome.accepted;
      }
    } finally {
      this.#idle.push(agent);
    }
  }
}

async function enrollFleet(server: BenchServer, poster: SwitchingPoster): Promise<{ agents: SimAgent[]; machineIds: string[] }> {
  const client = caller(server.port, server.ca, 4);
  const bearer = await adminBearer(client, server.adminPassword, PASSWORD);
  const created = await client.call('POST', '/api/admin/enrollment-tokens', { bearer, body: { ttlSeconds: 3600, maxUses: AGENTS, note: 'bench:ingest' } });
  client.agent.destroy();
  if (created.status !== 201) throw new Error(`could not create the enrollment token: ${created.status}`);
  const serverUrl = `https://127.0.0.1:${server.port}`;
  const trust = { kind: 'ca' as const, caPem: server.ca };
  const limit = new Semaphore(CONCURRENCY);
  const startMs = systemClock.nowMs();
  const agents = await Promise.all(
    Array.from({ length: AGENTS }, (_, i) =>
      limit.run(async () => {
        const machine = new SyntheticMachine(i, 1, startMs);
        const state = await enrollAgent({ serverUrl, token: created.json.token, trust, facts: machine.facts, store: new MemoryIdentityStore(), clock: systemClock, poster });
        const spool = new MemorySpool<Report>(systemClock);
        return { machine, spool, sender: new ReportSender<Report>({ state, poster, spool, clock: systemClock, log: silentLog }), id: state.identity.agentId };
      }),
    ),
  );
  return { agents, machineIds: agents.map((a) => a.id) };
}

// Constant column names and scales, never input.
const METRICS = ['cpu', 'mem', 'swap', 'disk', 'net_rx', 'net_tx', 'load1'];
const PERCENT = new Set(['cpu', 'mem', 'swap', 'disk']);
const SCALE: Record<string, string> = { cpu: '/ 100.0', mem: '/ 100.0', swap: '/ 500.0', disk: '/ 100.0', net_rx: '* 100', net_tx: '* 10', load1: '/ 1000.0' };

/**
 * Writes the history straight into the stopped server's SQLite file, in one
 * transaction: raw samples every 10 s (each machine at its own phase) and
 * minute and hour rollups, all before `endMs` so the reports measured later
 * never collide with them. The rows are generated inside SQLite by one prepared
 * INSERT … SELECT per table over (machine × time step), with values hashed from
 * those coordinates: binding 5 million rows one by one from JS takes twice as
 * long here. Machines go in key order, so the load itself is quick while the
 * indexes end up as ingest leaves them.
 */
function preloadHistory(file: string, machineIds: string[], endMs: number): number {
  const db = new Database(file);
  try {
    // This connection only: a crash mid-load just means running the bench again.
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1048576');
    const steps = 'with recursive k(n) as (select @count union all select n - 1 from k where n > 1)';
    const at = '(@end - k.n * @step + (m.key * 7919) % @phase)';
    const value = (metric: string) => `((m.key * 7919 + k.n * 104729 + ${METRICS.indexOf(metric)}) * 2654435761 % 10000) ${SCALE[metric]}`;
    const peak = (metric: string) => (PERCENT.has(metric) ? `${value(metric)} + (100 - ${value(metric)}) / 4` : `${value(metric)} * 1.25`);
    const from = 'from json_each(@ids) as m cross join k';
    const raw = db.prepare(
      `insert into metrics_raw (machine_id, ts, ${METRICS.join(', ')}, created_at, updated_at) ${steps}
       select m.value, ${at}, ${METRICS.map(value).join(', ')}, ${at} + 40, ${at} + 40 ${from}`,
    );
    const rollup = (table: string) =>
      db.prepare(
        `insert into ${table} (machine_id, bucket, count, ${METRICS.flatMap((m) => [`${m}_avg`, `${m}_max`]).join(', ')}, created_at, updated_at) ${steps}
         select m.value, ${at}, @samples, ${METRICS.flatMap((m) => [value(m), peak(m)]).join(', ')}, ${at} + @settle, ${at} + @settle ${from}`,
      );
    const ids = JSON.stringify([...machineIds].sort());
    const rows = db.transaction(() => {
      const inserted = [
        raw.run({ ids, count: RAW_PER_MACHINE, end: endMs, step: 10_000, phase: 10_000 }),
        rollup('metrics_minute').run({ ids, count: MINUTE_PER_MACHINE, end: endMs - (endMs % 60_000), step: 60_000, phase: 1, samples: 6, settle: 90_000 }),
        rollup('metrics_hour').run({ ids, count: HOUR_PER_MACHINE, end: endMs - (endMs % 3_600_000), step: 3_600_000, phase: 1, samples: 360, settle: 3_630_000 }),
      ].reduce((sum, result) => sum + result.changes, 0);
      // The rollup job has kept up, as on a server in steady state: it must not start rolling the history mid-measurement.
      const now = Date.now();
      db.prepare(
        `insert into job_watermarks (name, value, created_at, updated_at) values ('fleet.rollup', ?, ?, ?)
         on conflict (name) do update set value = excluded.value, updated_at = excluded.updated_at`,
      ).run(now, now, now);
      return inserted;
    })();
    // The server then starts on a checkpointed file, not a gigabyte of WAL.
    db.pragma('wal_checkpoint(TRUNCATE)');
    return rows;
  } finally {
    db.close();
  }
}

/** Moves the WAL a stopped server left into the database file. */
function checkpoint(file: string): void {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function assertAllAccepted(name: string, tally: Tally, checkAccepted: boolean): void {
  const failures = [...tally.failures].map(([status, n]) => `${n}x ${status === 0 ? 'no answer' : status}`);
  if (failures.length > 0) throw new Error(`${name}: ${failures.join(', ')} of ${tally.requests} requests were not 2xx; the figure would not be honest`);
  if (checkAccepted && tally.accepted !== tally.reports) throw new Error(`${name}: the server stored ${tally.accepted} of ${tally.reports} reports`);
}

const log = (line: string) => process.stderr.write(`bench:ingest ${line}\n`);

/** One server under measurement, as the simulated agents reach it. */
interface Target {
  name: string;
  pid: number;
  transport: AgentTransport;
  /** Reports/s of each measured round. */
  rates: number[];
  tally: Tally;
  cpuMs: number;
}

/** Enrolls the fleet on a fresh server, then leaves two stopped copies of it: one empty, one with the history. */
async function prepare(emptyDir: string, historyDir: string, poster: SwitchingPoster): Promise<SimAgent[]> {
  const server = await startBenchServer(emptyDir, SERVER_ENV);
  const transport = new AgentTransport(`https://127.0.0.1:${server.port}`, { kind: 'ca', caPem: server.ca }, { maxSockets: CONCURRENCY });
  poster.target = transport;
  let enrolled: { agents: SimAgent[]; machineIds: string[] };
  try {
    enrolled = await enrollFleet(server, poster);
  } finally {
    transport.close();
    await server.stop();
  }
  log(`enrolled ${enrolled.agents.length} agents`);
  // Same secrets, agents and certificate in both, and both checkpointed.
  checkpoint(join(emptyDir, 'flotilla.db'));
  cpSync(emptyDir, historyDir, { recursive: true });
  const started = Date.now();
  const rows = preloadHistory(join(historyDir, 'flotilla.db'), enrolled.machineIds, started - 60_000);
  log(`preloaded ${rows} history rows in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return enrolled.agents;
}

/**
 * Warms each server up, then measures them in rounds that go echo, empty,
 * history and back (ABC CBA), so a steady drift (warming up, other work on the
 * machine easing off) weighs the same on all three.
 */
async function measureRounds(targets: Target[], pool: AgentPool, poster: SwitchingPoster): Promise<void> {
  const measure = async (target: Target, ms: number) => {
    poster.target = target.transport;
    poster.tally = target.tally;
    const cpuBefore = cpuTimeMs(target.pid);
    const rate = await throughput(() => pool.sendOne(target.tally), CONCURRENCY, ms);
    target.cpuMs += cpuTimeMs(target.pid) - cpuBefore;
    return rate;
  };
  // JIT, connections and caches, until every agent has reported to the server once
  // (a machine's first report takes other paths: facts, no counters yet).
  for (const target of targets) {
    const started = Date.now();
    while (target.tally.requests < AGENTS || Date.now() - started < WARM_MS) await measure(target, 500);
    Object.assign(target, { tally: newTally(), cpuMs: 0 });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) target.rates.push(await measure(target, DURATION_MS / ROUNDS));
  }
  for (const target of targets) assertAllAccepted(target.name, target.tally, target.name !== 'echo');
  // Server CPU per request tells a slow path from a busy machine.
  for (const t of targets) log(`${t.name}: ${t.rates.map(Math.round).join('/')} req/s, ${t.tally.requests} requests, server CPU ${(t.cpuMs / t.tally.requests).toFixed(2)} ms/request`);
}

async function main(): Promise<void> {
  const emptyDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-ingest-'));
  const historyDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-ingest-'));
  const poster = new SwitchingPoster();
  const running: Array<BenchServer | ChildListener> = [];
  const targets: Target[] = [];
  try {
    const agents = await prepare(emptyDir, historyDir, poster);
    running.push(await startChildListener(['--import', 'tsx', fileURLToPath(import.meta.url), ECHO_FLAG, join(emptyDir, 'tls/cert.pem'), join(emptyDir, 'tls/key.pem')]));
    running.push(await startBenchServer(emptyDir, SERVER_ENV));
    running.push(await startBenchServer(historyDir, SERVER_ENV));
    const ca = readFileSync(join(emptyDir, 'tls/cert.pem'), 'utf8');
    for (const [i, name] of ['echo', 'empty', 'history'].entries()) {
      const { port, child } = running[i] as BenchServer | ChildListener;
      const transport = new AgentTransport(`https://127.0.0.1:${port}`, { kind: 'ca', caPem: ca }, { maxSockets: CONCURRENCY });
      targets.push({ name, pid: child.pid ?? 0, transport, rates: [], tally: newTally(), cpuMs: 0 });
    }
    await measureRounds(targets, new AgentPool(agents), poster);

    const [echo, empty, history] = targets.map((t) => t.rates) as [number[], number[], number[]];
    const unit = 'sealed reports/s, mean of interleaved ~1 s rounds (ratio = median of per-round ratios)';
    printFigure({ bench: 'ingest-5m-history-vs-empty', value: Math.round(mean(history)), baseline: Math.round(mean(empty)), ratio: pairedRatio(history, empty), target: 0.9, unit: `${unit}; 5,000,000 history rows vs empty database` });
    printFigure({ bench: 'ingest-sealed-vs-echo', value: Math.round(mean(empty)), baseline: Math.round(mean(echo)), ratio: pairedRatio(empty, echo), target: 0.5, unit: `${unit}; ${AGENTS} agents, ${CONCURRENCY} in flight vs bare Fastify HTTPS echo` });
  } finally {
    for (const target of targets) target.transport.close();
    for (const proc of running.reverse()) await proc.stop();
    rmSync(emptyDir, { recursive: true, force: true });
    rmSync(historyDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === ECHO_FLAG) await serveEcho(process.argv[3] ?? '', process.argv[4] ?? '');
else await main();
