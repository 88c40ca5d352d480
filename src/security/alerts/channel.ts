import { EgressError } from '../../protocol/egress.js';
import type { Alert } from './alerter.js';

/** One notification channel. deliver() throws when this attempt failed; the notifier retries. */
export interface Channel {
  /** Names the channel in the audit log and the server log: `webhook`, `slack`, `pagerduty`, `email`. */
  readonly name: string;
  deliver(alert: Alert): Promise<void>;
}

/**
 * A failed attempt, told by a short code (`http_503`, `timeout`). Messages never
 * carry the URL, body or the receiver's answer: a channel URL is often itself a
 * credential, and a receiver may echo what it was sent.
 */
export class DeliveryError extends Error {
  constructor(
    readonly code: string,
    /** True when trying again cannot help (a 4xx answer, a refused destination). */
    readonly permanent = false,
  ) {
    super(`delivery failed: ${code}`);
    this.name = 'DeliveryError';
  }
}

/** A 4xx says the request itself is wrong; only "too early / too many" are worth repeating. */
export const httpStatusError = (status: number): DeliveryError =>
  new DeliveryError(`http_${status}`, status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429);

/** The reason code kept in the audit entry and the log: never free text from a library or a receiver. */
export function reasonOf(err: unknown): string {
  if (err instanceof DeliveryError) return err.code;
  if (err instanceof EgressError) return 'egress_refused';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,31}$/.test(code) ? code.toLowerCase() : 'error';
}

/** Retrying cannot turn these into a success. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof DeliveryError) return err.permanent;
  if (err instanceof EgressError) return true;
  // nodemailer: a refused login or TLS requirement, or a 5xx SMTP answer to the envelope.
  const { code, responseCode } = (err ?? {}) as { code?: unknown; responseCode?: unknown };
  if (code === 'EAUTH' || code === 'ETLS') return true;
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600;
}
