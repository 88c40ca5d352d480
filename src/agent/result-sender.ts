import type { Clock } from '../lib/clock.js';
import type { CommandResult } from '../protocol/command-result.js';
import { MAX_RESULT_PLAINTEXT_BYTES, resultAad, sealEnvelope } from '../protocol/sealing.js';
import type { AgentState } from './identity.js';
import type { AgentLog } from './log.js';
import { defaultSleep, type BackoffPolicy } from './sender.js';
import { TransportError, type AgentPoster, type AgentReply } from './transport.js';
import { errorCodeOf } from './wire.js';

export const resultPath = (commandId: string): string => `/api/agent/commands/${encodeURIComponent(commandId)}/result`;
/** Results wait in memory; past this many, new ones are dropped (and logged) rather than growing without bound. */
const MAX_PENDING = 2_000;
const STALE_RESEALS = 2;

export interface ResultSenderOptions {
  state: AgentState;
  poster: AgentPoster;
  clock: Clock;
  log: AgentLog;
  signal: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  backoff?: BackoffPolicy;
}

/**
 * Sends command results one at a time, in the order they were queued, so a
 * command's `started` always reaches the server before its final result. Each
 * attempt is sealed afresh with the next result `seq` (persisted first).
 * 429, 5xx and network failures are retried with backoff; any other 4xx
 * drops the result; 409 means the server already has a final one.
 */
export class ResultSender {
  readonly #o: Required<ResultSenderOptions>;
  readonly #pending: Array<{ commandId: string; result: CommandResult }> = [];
  #pump: Promise<void> | null = null;
  #skewMs = 0;

  constructor(opts: ResultSenderOptions) {
    this.#o = { sleep: defaultSleep, random: Math.random, backoff: { baseMs: 1_000, capMs: 300_000 }, ...opts };
  }

  get pending(): number {
    return this.#pending.length;
  }

  push(commandId: string, result: CommandResult): void {
    if (this.#pending.length >= MAX_PENDING) {
      this.#o.log.error('too many command results wait for the server; dropping one', { commandId, status: result.status });
      return;
    }
    this.#pending.push({ commandId, result });
    this.#pump ??= this.#drain().finally(() => {
      this.#pump = null;
    });
  }

  /** Resolves once every queued result is sent or dropped, or the signal aborts. */
  async idle(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  async #drain(): Promise<void> {
    const { signal, log } = this.#o;
    for (let failures = 0; this.#pending.length > 0 && !signal.aborted; ) {
      const head = this.#pending[0] as { commandId: string; result: CommandResult };
      let outcome: 'done' | 'retry';
      try {
        outcome = await this.#sendOne(head.commandId, head.result);
      } catch (err) {
        log.error('sending a command result failed', { commandId: head.commandId, reason: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
        outcome = 'retry';
      }
      if (outcome === 'done') {
        this.#pending.shift();
        failures = 0;
        continue;
      }
      failures++;
      const { baseMs, capMs } = this.#o.backoff;
      await this.#o.sleep(Math.floor(this.#o.random() * Math.min(capMs, baseMs * 2 ** Math.min(30, failures - 1))), signal);
    }
  }

  async #sendOne(commandId: string, result: CommandResult): Promise<'done' | 'retry'> {
    const { log } = this.#o;
    for (let reseals = 0; ; reseals++) {
      let reply: AgentReply;
      try {
        reply = await this.#post(commandId, result);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        log.warn('could not deliver a command result; retrying', { commandId, reason: err.message });
        return 'retry';
      }
      const code = errorCodeOf(reply.body);
      if (reply.status === 200) return 'done';
      if (reply.status === 400 && code === 'stale_timestamp' && reseals < STALE_RESEALS) {
        if (reply.dateMs !== null) this.#skewMs = reply.dateMs - this.#o.clock.nowMs();
        continue;
      }
      if (reply.status === 429 || reply.status >= 500 || reply.status < 200) {
        log.warn('the server could not take a command result; retrying', { commandId, status: reply.status, code });
        return 'retry';
      }
      if (reply.status === 409) log.info('the server already holds a final result for this command', { commandId, status: result.status });
      else log.error('the server refused a command result; dropping it', { commandId, status: reply.status, code, result: result.status });
      return 'done';
    }
  }

  async #post(commandId: string, result: CommandResult): Promise<AgentReply> {
    const { state, clock, poster } = this.#o;
    const seq = await state.reserveResultSeq();
    const { agentId, kid, apiKey } = state.identity;
    const ts = Math.max(0, Math.trunc(clock.nowMs() + this.#skewMs));
    const plaintext = Buffer.from(JSON.stringify(result), 'utf8');
    const envelope = sealEnvelope(state.sealingKey, { kid, ts, seq }, resultAad(agentId, kid, ts, seq, commandId), plaintext, undefined, MAX_RESULT_PLAINTEXT_BYTES);
    return poster.post(resultPath(commandId), envelope, apiKey);
  }
}
