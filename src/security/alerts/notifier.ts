import { setTimeout as delay } from 'node:timers/promises';
import type { Alert, Alerter } from './alerter.js';
import { isPermanent, reasonOf, type Channel } from './channel.js';

export interface RetryPolicy {
  /** Attempts per alert and channel, the first included. */
  attempts: number;
  /** The first wait; it doubles after each failed attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface DeliveryOutcome {
  channel: string;
  alert: Alert;
  delivered: boolean;
  attempts: number;
  /** The last failure's reason code; null when delivered. */
  reason: string | null;
}

/** Waits `ms`; rejects when the signal aborts. Real timers: backoff is about the receiver's time, not the clock's. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const realSleep: Sleep = (ms, signal) => delay(ms, undefined, { signal, ref: false });

/**
 * The wait after failed attempt `n` (1-based): exponential, capped, with
 * "equal jitter" (half fixed, half random) so receivers that failed together
 * are not retried together, yet the wait never collapses to zero.
 */
export function backoffDelayMs(n: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** An Alerter that hands delivery to the background and can be drained or stopped. */
export interface Notifier extends Alerter {
  /** Settles when every delivery started so far has an outcome. */
  idle(): Promise<void>;
  /** Stops scheduling retries and waits for attempts in flight (each bounded by its channel's timeout). */
  close(): Promise<void>;
}

export interface NotifierOptions {
  retry: RetryPolicy;
  /** Called once per alert and channel with the final outcome (audit, log). Must not throw. */
  onOutcome(outcome: DeliveryOutcome): void;
  sleep?: Sleep;
  random?: () => number;
}

/**
 * Delivers every alert to every channel, each on its own with retries and
 * backoff. send() returns at once: the code that raised the alert never waits
 * for a receiver, and a slow or failing channel never holds up another.
 */
export function backgroundNotifier(channels: readonly Channel[], opts: NotifierOptions): Notifier {
  const sleep = opts.sleep ?? realSleep;
  const stop = new AbortController();
  const pending = new Set<Promise<void>>();

  const deliver = async (channel: Channel, alert: Alert): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await channel.deliver(alert);
        opts.onOutcome({ channel: channel.name, alert, delivered: true, attempts: attempt, reason: null });
        return;
      } catch (err) {
        const last = attempt >= opts.retry.attempts || isPermanent(err) || stop.signal.aborted;
        const waited = last ? false : await sleep(backoffDelayMs(attempt, opts.retry, opts.random), stop.signal).then(() => true, () => false);
        if (!waited) {
          opts.onOutcome({ channel: channel.name, alert, delivered: false, attempts: attempt, reason: reasonOf(err) });
          return;
        }
      }
    }
  };

  const idle = async (): Promise<void> => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  return {
    async send(alert) {
      if (stop.signal.aborted) return;
      for (const channel of channels) {
        // onOutcome must not throw; if it does anyway, that must not become an unhandled rejection.
        const job: Promise<void> = deliver(channel, alert)
          .catch(() => undefined)
          .finally(() => pending.delete(job));
        pending.add(job);
      }
    },
    idle,
    async close() {
      stop.abort();
      await idle();
    },
  };
}
