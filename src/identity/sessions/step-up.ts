import type { Clock } from '../../lib/clock.js';
import type { Kv } from '../../store/kv/kv.js';

/**
 * Step-up proofs (OWASP ASVS 4.0.3 V3.7.1): the moment a session last proved
 * its user with a password, a code or a passkey. Routes that change how the
 * account signs in demand one younger than STEP_UP_WINDOW_MS, so a stolen
 * access token alone cannot swap the second factor.
 */
export const STEP_UP_WINDOW_MS = 5 * 60_000;

const proofKey = (sid: string) => `stepup:${sid}`;

export class StepUpProofs {
  constructor(private readonly deps: { kv: Kv; clock: Clock }) {}

  /** Records a proof made now; returns until when it counts. */
  async record(sessionId: string): Promise<number> {
    const now = this.deps.clock.nowMs();
    await this.deps.kv.set(proofKey(sessionId), String(now), STEP_UP_WINDOW_MS);
    return now + STEP_UP_WINDOW_MS;
  }

  /** The age is judged by the stored time, not the KV's TTL: Redis expires on its own clock. */
  async isFresh(sessionId: string): Promise<boolean> {
    const stored = await this.deps.kv.get(proofKey(sessionId));
    if (stored === null) return false;
    const age = this.deps.clock.nowMs() - Number(stored);
    return age >= 0 && age < STEP_UP_WINDOW_MS;
  }
}
