import type { Clock } from '../lib/clock.js';
import { openRekey, reportAad, sealEnvelope, type SealedEnvelope } from '../protocol/sealing.js';
import type { AgentState } from './identity.js';
import type { AgentLog } from './log.js';
import type { ReportSpool, SpoolEntry } from './spool.js';
import { TransportError, type AgentPoster, type AgentReply } from './transport.js';
import { errorCodeOf, parseReportAnswer, type ReportAnswer } from './wire.js';

export const REPORT_PATH = '/api/agent/report';
/** docs/protocol.md: one envelope carries at most 100 reports. */
export const MAX_BATCH = 100;

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export interface SenderOptions<R> {
  state: AgentState;
  poster: AgentPoster;
  spool: ReportSpool<R>;
  clock: Clock;
  log: AgentLog;
  /** Waits between retries; injected so tests need not wait. Resolves early when the signal aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** [0, 1) source for the jitter. */
  random?: () => number;
  maxBatch?: number;
  /**
   * Plaintext bytes per envelope. Sealing and base64url grow it by a third, and
   * the server takes at most 256 KiB per report body (docs/api.md).
   */
  maxBatchBytes?: number;
  backoff?: BackoffPolicy;
  /** Commands that came back with a 200; verified by the caller before anything runs. */
  onCommands?: (commands: unknown[]) => void | Promise<void>;
}

export type SendOutcome =
  | { kind: 'empty' }
  | { kind: 'sent'; count: number; accepted: number }
  | { kind: 'dropped'; count: number; reason: string }
  | { kind: 'retry'; reason: string; waitMs: number | null };

/** Re-seals allowed for one batch after `stale_timestamp` before it counts as a failure. */
const STALE_RESEALS = 2;

export const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Sends spooled reports in sealed batches. A report is sealed when it is sent,
 * so each attempt gets a fresh `ts` and the next `seq` (docs/protocol.md). What
 * happens to a batch depends only on the answer:
 *   200 drop it (delivered), apply `rekey` and `intervalSeconds`;
 *   409 drop it (the server already has this seq);
 *   400 stale_timestamp: re-seal with a corrected clock and retry at once;
 *   413 halve the batch (a single report is dropped);
 *   429, 5xx, network: keep it and retry with exponential backoff and full jitter;
 *   other 4xx: log and drop, so a refusal never loops forever.
 */
export class ReportSender<R> {
  readonly #o: Required<Omit<SenderOptions<R>, 'onCommands'>> & Pick<SenderOptions<R>, 'onCommands'>;
  #failures = 0;
  /** Server time minus local time, learnt from the `Date` of a stale_timestamp answer. */
  #skewMs = 0;
  #batchLimit: number;

  constructor(opts: SenderOptions<R>) {
    this.#o = {
      sleep: defaultSleep,
      random: Math.random,
      maxBatch: MAX_BATCH,
      maxBatchBytes: 160 * 1024,
      backoff: { baseMs: 1_000, capMs: 300_000 },
      ...opts,
    };
    this.#batchLimit = Math.min(MAX_BATCH, Math.max(1, this.#o.maxBatch));
  }

  /** Consecutive failed attempts; reset by any answer that makes progress. */
  get failures(): number {
    return this.#failures;
  }

  /** Sends until the spool is empty or the signal aborts, waiting out failures. */
  async drain(signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted) {
      const outcome = await this.sendOnce();
      if (outcome.kind === 'empty') return;
      if (outcome.kind === 'retry') await this.#o.sleep(this.#nextDelay(outcome.waitMs), signal);
    }
  }

  /** One batch, one envelope (plus re-seals after stale_timestamp). */
  async sendOnce(): Promise<SendOutcome> {
    const { spool, log } = this.#o;
    let entries = await this.#takeBatch();
    if (entries.length === 0) return { kind: 'empty' };

    for (let reseals = 0; ; ) {
      let reply: AgentReply;
      try {
        reply = await this.#post(entries);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        return this.#retry(err.message, null, { kind: err.kind });
      }
      const code = errorCodeOf(reply.body);
      const ids = entries.map((e) => e.id);

      if (reply.status === 200) {
        const answer = parseReportAnswer(reply.body);
        await spool.remove(ids);
        this.#progress();
        if (!answer) {
          log.warn('the server accepted the reports but its answer is malformed; ignoring it', { count: ids.length });
          return { kind: 'sent', count: ids.length, accepted: 0 };
        }
        await this.#apply(answer);
        return { kind: 'sent', count: ids.length, accepted: answer.accepted };
      }
      if (reply.status === 400 && code === 'stale_timestamp' && reseals < STALE_RESEALS) {
        reseals++;
        if (reply.dateMs !== null) this.#skewMs = reply.dateMs - this.#o.clock.nowMs();
        log.warn('the server found the envelope timestamp stale; re-sealing with a fresh one', { skewMs: this.#skewMs });
        continue;
      }
      if (reply.status === 400 && code === 'stale_timestamp') {
        // Our clock is too far off even after correction: keep the reports, they may go later.
        return this.#retry('the server keeps refusing the envelope timestamp; check this machine clock', reply.retryAfterMs, { status: 400, code });
      }
      if (reply.status === 413 && entries.length > 1) {
        this.#batchLimit = Math.max(1, Math.floor(entries.length / 2));
        log.warn('the server found the batch too large; sending smaller batches', { count: entries.length, next: this.#batchLimit });
        entries = entries.slice(0, this.#batchLimit);
        continue;
      }
      if (reply.status === 429 || reply.status >= 500 || reply.status < 200) {
        return this.#retry(`the server answered ${reply.status}`, reply.retryAfterMs, { status: reply.status, code });
      }
      await spool.remove(ids);
      this.#progress();
      const reason = reply.status === 409 ? 'replay' : (code ?? `status_${reply.status}`);
      if (reply.status === 409) log.warn('the server already accepted this seq; dropping the batch', { count: ids.length });
      else log.error('the server refused the reports; dropping them', { status: reply.status, code, count: ids.length, hint: hintFor(reply.status, code) });
      return { kind: 'dropped', count: ids.length, reason };
    }
  }

  async #takeBatch(): Promise<Array<SpoolEntry<R>>> {
    const head = await this.#o.spool.head(this.#batchLimit);
    const batch: Array<SpoolEntry<R>> = [];
    let bytes = 0;
    for (const entry of head) {
      if (batch.length > 0 && bytes + entry.bytes > this.#o.maxBatchBytes) break;
      batch.push(entry);
      bytes += entry.bytes + 1;
    }
    return batch;
  }

  /** Seals at send time: a new `seq` (persisted first) and the current, skew-corrected time. */
  async #post(entries: Array<SpoolEntry<R>>): Promise<AgentReply> {
    const { state, clock, poster } = this.#o;
    const seq = await state.reserveSeq();
    const { agentId, kid, apiKey } = state.identity;
    const ts = Math.max(0, Math.trunc(clock.nowMs() + this.#skewMs));
    const plaintext = Buffer.from(JSON.stringify({ reports: entries.map((e) => e.item) }), 'utf8');
    const envelope: SealedEnvelope = sealEnvelope(state.sealingKey, { kid, ts, seq }, reportAad(agentId, kid, ts, seq), plaintext);
    return poster.post(REPORT_PATH, envelope, apiKey);
  }

  async #apply(answer: ReportAnswer): Promise<void> {
    const { state, log } = this.#o;
    if (answer.rekey && answer.rekey.kid !== state.identity.kid) {
      const key = openRekey(state.sealingKey, state.identity.agentId, answer.rekey);
      if (key) {
        await state.applyRekey(answer.rekey.kid, key);
        log.info('sealing key rotated', { kid: answer.rekey.kid });
      } else {
        log.error('the server sent a new sealing key that does not open with the current one; keeping the current key', { kid: answer.rekey.kid });
      }
    }
    if (answer.intervalSeconds !== state.identity.intervalSeconds) {
      await state.setInterval(answer.intervalSeconds);
      log.info('report interval changed', { intervalSeconds: answer.intervalSeconds });
    }
    if (answer.commands.length > 0) await this.#o.onCommands?.(answer.commands);
  }

  #progress(): void {
    this.#failures = 0;
  }

  #retry(reason: string, waitMs: number | null, fields: Record<string, unknown>): SendOutcome {
    this.#failures++;
    this.#o.log.warn('could not deliver reports; keeping them for a retry', { reason, attempt: this.#failures, spooled: this.#o.spool.length, ...fields });
    return { kind: 'retry', reason, waitMs };
  }

  /** Full jitter (random in [0, min(cap, base·2^n))), but never sooner than the server asked. */
  #nextDelay(serverWaitMs: number | null): number {
    const { baseMs, capMs } = this.#o.backoff;
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, this.#failures - 1)));
    const jittered = Math.floor(this.#o.random() * ceiling);
    return serverWaitMs === null ? jittered : Math.min(capMs, Math.max(jittered, serverWaitMs));
  }
}

function hintFor(status: number, code: string | null): string | undefined {
  if (status === 401) return 'the agent key was revoked or is unknown; re-enroll this machine';
  if (code === 'seal_invalid') return 'the sealing key no longer matches the server; re-enroll this machine';
  if (code === 'seal_required') return 'the server requires sealed reports';
  return undefined;
}
