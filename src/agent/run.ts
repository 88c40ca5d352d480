import { join } from 'node:path';
import type { Report } from '../protocol/report.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { keepChannel } from './channel.js';
import { MetricsCollector } from './collect.js';
import { CommandRunner } from './command-runner.js';
import { CommandGate } from './commands.js';
import { AgentState, FileIdentityStore } from './identity.js';
import { lineLog, recentLog, type AgentLog } from './log.js';
import { loadPolicy, policyLocation, type EffectivePolicy, type PolicyLocation } from './policy.js';
import { ResultSender } from './result-sender.js';
import { SeenCommands } from './seen-commands.js';
import { defaultSleep, ReportSender, type BackoffPolicy } from './sender.js';
import { DEFAULT_SPOOL_LIMITS, FileSpool, type SpoolLimits } from './spool.js';
import { AgentTransport, type AgentPoster } from './transport.js';
import { describeTrust } from './trust.js';
import { AGENT_VERSION } from './version.js';

export const SPOOL_DIR = 'spool';
/** `flotilla agent run` exits with this after restart_agent, so the service manager starts it again. */
export const RESTART_EXIT_CODE = 75;
/** How long a restart waits for its result to reach the server. */
const RESTART_FLUSH_MS = 30_000;

/** Why the loop ended: stopped by the signal, or asked to restart by a command. */
export type AgentExit = 'stopped' | 'restart';

export interface RunOptions {
  stateDir: string;
  clock?: Clock;
  log?: AgentLog;
  /** Stops the loop; the current send finishes or is abandoned, spooled reports stay. */
  signal?: AbortSignal;
  spoolLimits?: SpoolLimits;
  backoff?: BackoffPolicy;
  /** Reconnect backoff of the agent channel (default 1 s doubling to 60 s, full jitter). */
  channelBackoff?: BackoffPolicy;
  /** Overrides for tests: another source of reports, another transport, another wait. */
  collect?: () => Promise<Report>;
  poster?: AgentPoster;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The host's command policy (default /etc/flotilla/agent-policy.json, see policyLocation). */
  policy?: PolicyLocation;
  /** Who must own the policy file, its scripts and their directories; root unless a test says otherwise. */
  policyOwnerUid?: number;
  /** Between SIGTERM and SIGKILL of a timed-out script's group. */
  killGraceMs?: number;
  /** Told each script's process group id as it starts. */
  onSpawn?: (pgid: number) => void;
}

/**
 * The agent: every interval collect a report and spool it; independently, send
 * the spool. The two halves meet only in the spool, so a slow or absent server
 * never delays a measurement, and a slow measurement never delays a send.
 */
export async function runAgent(opts: RunOptions): Promise<AgentExit> {
  const clock = opts.clock ?? systemClock;
  const log = recentLog(opts.log ?? lineLog('info', undefined, clock), clock);
  const sleep = opts.sleep ?? defaultSleep;
  const stop = new AbortController();
  const signal = stop.signal;
  const outer = opts.signal;
  if (outer?.aborted) stop.abort();
  outer?.addEventListener('abort', () => stop.abort(), { once: true });
  let exit: AgentExit = 'stopped';

  // The policy first: an agent whose policy could be changed by others must not start at all.
  const policyOwnerUid = opts.policyOwnerUid ?? 0;
  const policy = await loadPolicy(opts.policy ?? policyLocation(undefined), policyOwnerUid);
  const state = await AgentState.open(new FileIdentityStore(opts.stateDir));
  const seen = await SeenCommands.open(opts.stateDir, clock);
  const spool = await FileSpool.open<Report>(join(opts.stateDir, SPOOL_DIR), clock, opts.spoolLimits ?? DEFAULT_SPOOL_LIMITS);
  const transport = opts.poster ? null : new AgentTransport(state.identity.serverUrl, state.identity.trust);
  const poster = opts.poster ?? (transport as AgentTransport);
  const collector = new MetricsCollector({ clock, log });
  const collect = opts.collect ?? (() => collector.collect());
  const wake = new Wakeup();
  const collectOnce = async () => {
    const report = await collect();
    const drops = await spool.push(report, report.collectedAt);
    if (drops.expired + drops.overflow > 0) log.warn('spool bounds reached; dropped the oldest reports', { ...drops });
    wake.fire();
  };
  const results = new ResultSender({ state, poster, clock, log, signal, sleep, ...(opts.backoff ? { backoff: opts.backoff } : {}) });
  const runner = new CommandRunner({
    gate: new CommandGate(() => state.identity.commandPublicKey, () => state.identity.agentId, seen, clock),
    state,
    policy,
    policyOwnerUid,
    results,
    clock,
    log,
    ...(opts.killGraceMs !== undefined ? { killGraceMs: opts.killGraceMs } : {}),
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
    builtins: {
      collect: async () => {
        await collectOnce();
        return 'a report was collected and queued';
      },
      diagnostics: () => diagnostics(state, policy, spool.length, log.recent()),
      restart: () => {
        exit = 'restart';
        log.info('restarting on command once the result is delivered', {});
        void Promise.race([results.idle(), sleep(RESTART_FLUSH_MS, signal)]).then(() => stop.abort());
      },
    },
  });
  const sender = new ReportSender<Report>({
    state,
    poster,
    spool,
    clock,
    log,
    sleep,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    // Not awaited: a running script must not hold up the next report.
    onCommands: (commands) => void runner.receive(commands),
  });

  log.info('agent started', {
    agentId: state.identity.agentId,
    server: state.identity.serverUrl,
    trust: describeTrust(state.identity.trust),
    intervalSeconds: state.identity.intervalSeconds,
    spooled: spool.length,
    policy: policy.source ?? 'none (only ping is allowed)',
    allowedActions: Object.keys(policy.actions),
  });

  const collecting = (async () => {
    while (!signal.aborted) {
      const started = clock.nowMs();
      try {
        await collectOnce();
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

  // Commands pushed over the channel take the same path as those of report answers; the gate dedupes ids across both.
  const channel = transport
    ? keepChannel(
        {
          serverUrl: transport.url,
          tlsAgent: () => transport.tlsAgent(),
          apiKey: () => state.identity.apiKey,
          onCommands: (commands) => void runner.receive(commands),
          log,
          sleep,
          ...(opts.channelBackoff ? { backoff: opts.channelBackoff } : {}),
        },
        signal,
      ).catch((err: unknown) => log.error('the agent channel stopped', { reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' }))
    : Promise.resolve();

  try {
    await Promise.all([collecting, sending, channel]);
  } finally {
    transport?.close();
    log.info('agent stopped', { spooled: spool.length, exit });
  }
  return exit;
}

/** What the diagnostics action answers: nothing secret (no keys, no tokens, no certificate). */
function diagnostics(state: AgentState, policy: EffectivePolicy, spooled: number, logLines: string[]): string {
  const id = state.identity;
  return JSON.stringify(
    {
      version: AGENT_VERSION,
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      uptimeSeconds: Math.round(process.uptime()),
      agentId: id.agentId,
      server: id.serverUrl,
      trust: describeTrust(id.trust),
      kid: id.kid,
      intervalSeconds: id.intervalSeconds,
      spooled,
      policy: { source: policy.source, actions: policy.actions, maxTimeoutSeconds: policy.maxTimeoutSeconds },
      log: logLines,
    },
    null,
    2,
  );
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
