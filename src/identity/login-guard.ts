import type { RequestFacts } from './sessions/service.js';

/**
 * The hook a per-IP login throttle plugs into (the perimeter's:
 * 5 failed attempts per 300 s). Identity calls `reserve` before any credential
 * is checked, on every login step (password, second factor, passkey), and
 * `settle` with the outcome once it is known; only failures should count.
 */
export interface LoginGuard {
  /** Takes this attempt's slot; throws a DomainError (429 with Retry-After) to refuse. */
  reserve(facts: RequestFacts): Promise<void>;
  /** Reports how the attempt ended. */
  settle(facts: RequestFacts, success: boolean): Promise<void>;
}
