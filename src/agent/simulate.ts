import type { Report } from '../protocol/report.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { Semaphore } from '../lib/semaphore.js';
import { enrollAgent, EnrollError } from './enroll.js';
import { MemoryIdentityStore, type AgentState } from './identity.js';
import { silentLog, type AgentLog } from './log.js';
import { defaultSleep, ReportSender } from './sender.js';
import { MemorySpool } from './spool.js';
import { SyntheticMachine } from './synthetic.js';
import { AgentTransport, type AgentPoster } from './transport.js';
import type { ServerTrust } from './trust.js';

export interface SimulateOptions {
  serverUrl: string;
  /** An enrollment token with at least `count` uses left. */
  token: string;
  trust: ServerTrust;
  count: number;
  /** Seconds between reports; default: what the server says. */
  intervalSeconds?: number;
  /**
   * A fixed hostname (e.g. markup, to test the dashboard's escaping): the first
   * machine gets it exactly, the others `<name>-2`, `<name>-3`, ….
   */
  hostname?: string;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Reports per machine before stopping; default: until the signal aborts. */
  rounds?: number;
  seed?: number;
  clock?: Clock;
  log?: AgentLog;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  poster?: AgentPoster;
  /** Called once every machine is enrolled, before the first report. */
  onEnrolled?: (machines: SimulatedMachine[]) => void;
}

export interface SimulatedMachine {
  hostname: string;
  agentId: string;
}

export interface SimulationSummary {
  machines: SimulatedMachine[];
  reportsSent: number;
  failures: number;
}

const MAX_ENROLL_TRIES = 8;

/**
 * Enrolls `count` made-up machines and has each report synthetic metrics on its
 * own schedule, all in this process. Identities and spools stay in memory.
 * Each machine seals with its own key and seq, exactly like a real agent, so
 * the server does the same work; `concurrency` bounds requests in flight.
 */
export async function simulateFleet(opts: SimulateOptions): Promise<SimulationSummary> {
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 100_000) throw new RangeError('count must be an integer from 1 to 100000');
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? silentLog;
  const sleep = opts.sleep ?? defaultSleep;
  const signal = opts.signal ?? new AbortController().signal;
  const seed = opts.seed ?? Math.floor(Math.random() * 1_000_000);
  const limit = new Semaphore(Math.max(1, opts.concurrency ?? 16));
  const own = opts.poster ? null : new AgentTransport(opts.serverUrl, opts.trust, { maxSockets: Math.max(1, opts.concurrency ?? 16) });
  const poster = opts.poster ?? (own as AgentTransport);
  const summary: SimulationSummary = { machines: [], reportsSent: 0, failures: 0 };

  try {
    const machines = Array.from({ length: opts.count }, (_, i) => {
      const name = opts.hostname === undefined ? undefined : i === 0 ? opts.hostname : `${opts.hostname}-${i + 1}`;
      return new SyntheticMachine(i, seed, clock.nowMs(), name);
    });
    const states = await Promise.all(machines.map((m) => limit.run(() => enrollWithRetry(opts, m, poster, clock, sleep, signal, log))));
    machines.forEach((m, i) => summary.machines.push({ hostname: m.facts.hostname, agentId: (states[i] as AgentState).identity.agentId }));
    log.info('simulated machines enrolled', { count: machines.length });
    opts.onEnrolled?.(summary.machines);

    await Promise.all(
      machines.map(async (machine, i) => {
        const state = states[i] as AgentState;
        const spool = new MemorySpool<Report>(clock);
        const sender = new ReportSender<Report>({ state, poster, spool, clock, log, sleep });
        const intervalMs = () => (opts.intervalSeconds ?? state.identity.intervalSeconds) * 1000;
        // Spread the fleet over the interval, as real machines booted at different times would be.
        if (opts.rounds === undefined || opts.rounds > 1) await sleep(Math.floor(Math.random() * intervalMs()), signal);
        for (let round = 0; !signal.aborted && (opts.rounds === undefined || round < opts.rounds); round++) {
          const started = clock.nowMs();
          await spool.push(machine.next(started, intervalMs() / 1000), started);
          // One envelope per tick; whatever stays spooled goes with the next one.
          const outcome = await limit.run(() => sender.sendOnce());
          if (outcome.kind === 'sent') summary.reportsSent += outcome.count;
          else if (outcome.kind !== 'empty') summary.failures++;
          if (opts.rounds !== undefined && round + 1 >= opts.rounds) break;
          await sleep(Math.max(0, intervalMs() - (clock.nowMs() - started)), signal);
        }
      }),
    );
    return summary;
  } finally {
    own?.close();
  }
}

async function enrollWithRetry(
  opts: SimulateOptions,
  machine: SyntheticMachine,
  poster: AgentPoster,
  clock: Clock,
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  log: AgentLog,
): Promise<AgentState> {
  for (let attempt = 1; ; attempt++) {
    try {
      const store = new MemoryIdentityStore();
      return await enrollAgent({ serverUrl: opts.serverUrl, token: opts.token, trust: opts.trust, facts: machine.facts, store, clock, poster });
    } catch (err) {
      // Enrollment is rate limited per IP, and a simulator is one IP: wait and go on.
      const limited = err instanceof EnrollError && (err.status === 429 || err.status === 503);
      if (!limited || attempt >= MAX_ENROLL_TRIES || signal.aborted) throw err;
      const waitMs = (err as EnrollError).retryAfterMs ?? 1000 * 2 ** attempt;
      log.warn('enrollment rate limited; waiting', { waitMs });
      await sleep(waitMs, signal);
    }
  }
}
