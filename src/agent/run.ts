import { join } from 'node:path';
import type { Report } from '../protocol/report.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { MetricsCollector } from './collect.js';
import { CommandGate } from './commands.js';
import { AgentState, FileIdentityStore } from './identity.js';
import { lineLog, type AgentLog } from './log.js';
import { defaultSleep, ReportSender, type BackoffPolicy } from './sender.js';
import { DEFAULT_SPOOL_LIMITS, FileSpool, type SpoolLimits } from './spool.js';
import { AgentTransport, type AgentPoster } from './transport.js';
import { describeTrust } from './trust.js';

export const SPOOL_DIR = 'spool';

export interface RunOptions {
  stateDir: string;
  clock?: Clock;
  log?: AgentLog;
  /** Stops the loop; the current send finishes or is abandoned, spooled reports stay. */
  signal?: AbortSignal;
  spoolLimits?: SpoolLimits;
  backoff?: BackoffPolicy;
  /** Overrides for tests: another source of reports, another transport, another wait. */
  collect?: () => Promise<Report>;
  poster?: AgentPoster;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * The agent: every interval collect a report and spool it; independently, send
 * the spool. The two halves meet only in the spool, so a slow or absent server
 * never delays a measurement, and a slow measurement never delays a send.
 */
export async function runAgent(opts: RunOptions): Promise<void> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? lineLog('info', undefined, clock);
  const sleep = opts.sleep ?? defaultSleep;
  const signal = opts.signal ?? new AbortController().signal;

  const state = await AgentState.open(new FileIdentityStore(opts.stateDir));
  const spool = await FileSpool.open<Report>(join(opts.stateDir, SPOOL_DIR), clock, opts.spoolLimits ?? DEFAULT_SPOOL_LIMITS);
  const transport = opts.poster ? null : new AgentTransport(state.identity.serverUrl, state.identity.trust);
  const collector = new MetricsCollector({ clock, log });
  const collect = opts.collect ?? (() => collector.collect());
  const gate = new CommandGate(
    () => state.identity.commandPublicKey,
    () => state.identity.agentId,
    clock,
    log,
  );
  const sender = new ReportSender<Report>({
    state,
    poster: opts.poster ?? (transport as AgentTransport),
    spool,
    clock,
    log,
    sleep,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    onCommands: (commands) => {
      for (const cmd of gate.accept(commands)) {
        // Running commands is not part of this agent yet; verified ones are only logged.
        log.warn('verified command received but command execution is not available in this agent', { id: cmd.id, action: cmd.action });
      }
    },
  });
  const wake = new Wakeup();

  log.info('agent started', {
    agentId: state.identity.agentId,
    server: state.identity.serverUrl,
    trust: describeTrust(state.identity.trust),
    intervalSeconds: state.identity.intervalSeconds,
    spooled: spool.length,
  });

  const collecting = (async () => {
    while (!signal.aborted) {
      const started = clock.nowMs();
      try {
        const report = await collect();
        const drops = await spool.push(report, report.collectedAt);
        if (drops.expired + drops.overflow > 0) log.warn('spool bounds reached; dropped the oldest reports', { ...drops });
        wake.fire();
      } catch (err) {
        log.error('collecting a report failed', { reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
      }
      const intervalMs = state.identity.intervalSeconds * 1000;
      await sleep(Math.max(0, intervalMs - (clock.nowMs() - started)), signal);
    }
  })();

  const sending = (async () => {
    while (!signal.aborted) {
      try {
        await sender.drain(signal);
      } catch (err) {
        // Only bugs and disk errors land here; transport failures are retried inside drain.
        log.error('sending reports failed', { reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
        await sleep(5_000, signal);
      }
      await wake.wait(signal);
    }
  })();

  try {
    await Promise.all([collecting, sending]);
  } finally {
    transport?.close();
    log.info('agent stopped', { spooled: spool.length });
  }
}

/** Lets the collector tell an idle sender there is something to send. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | null = null;

  fire(): void {
    if (this.#resolve) {
      this.#resolve();
      this.#resolve = null;
    } else this.#pending = true;
  }

  wait(signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.#resolve = null;
        resolve();
      };
      this.#resolve = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
