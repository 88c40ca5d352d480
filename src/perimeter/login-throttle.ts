import type { Clock } from '../lib/clock.js';
import type { Kv, WindowHit } from '../store/kv/kv.js';
import { perimeterError } from './errors.js';
import { subjectOf } from '../protocol/ip.js';
import { rateLimitedError, usageOf, type RateRule, type RateUsage } from './rate-limit.js';

/** One login attempt's place in the counters. */
export interface LoginSlot {
  readonly subject: string;
  /** Gives the slot back: the attempt succeeded, so it is not a failure. */
  release(): Promise<void>;
}

/** The shape identity's `LoginGuard` (src/identity/login-guard.ts) expects. */
export interface LoginGuardLike {
  reserve(facts: { ip: string | null }): Promise<void>;
  settle(facts: { ip: string | null }, success: boolean): Promise<void>;
}

type HeldSlot = LoginSlot & { claimed: boolean };

/**
 * Per-IP limit on failed logins (perimeter.rateLimit.login, 5 per 300 s; successes do not
 * count, so an office behind one NAT can still log in). Every attempt takes a
 * slot atomically *before* the password is checked, so 100 attempts sent at
 * once are limited exactly like 100 in a row; a success gives its slot back.
 *
 * The Kv has no "remove one hit", so a give-back is itself a hit in a second
 * window, stamped with the attempt's own time so both leave the window
 * together: failures = attempts - give-backs, and an attempt is admitted while
 * attempts < limit + give-backs. Reading the give-backs first can only make the
 * limit stricter, never looser.
 */
export class LoginThrottle {
  private readonly windowMs: number;
  /** Slots the HTTP layer took for requests still running, by subject. */
  private readonly held = new Map<string, HeldSlot[]>();
  /** Slots identity took through the guard, until it settles them. */
  private readonly guarded = new WeakMap<object, LoginSlot | null>();

  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    private readonly rule: RateRule,
  ) {
    this.windowMs = rule.windowSeconds * 1000;
  }

  /** Takes a slot for one attempt from `ip`; throws `rate_limited` (429) or `limiter_unavailable` (503). */
  async reserve(ip: string, onUsage?: (usage: RateUsage) => void): Promise<LoginSlot> {
    const subject = subjectOf(ip);
    const at = this.clock.nowMs();
    const attempts = `perimeter:login:${subject}`;
    const givenBack = `perimeter:login-ok:${subject}`;
    let hit: WindowHit;
    let released: number;
    try {
      released = await this.kv.countWindow(givenBack, this.windowMs, at);
      hit = await this.kv.hitWindow(attempts, this.windowMs, this.rule.limit + released, at);
    } catch (err) {
      throw perimeterError('limiter_unavailable', { cause: err });
    }
    const usage = usageOf('login', this.rule, hit, this.rule.limit + released);
    onUsage?.(usage);
    if (!hit.allowed) throw rateLimitedError(usage);
    let done = false;
    return {
      subject,
      release: async () => {
        if (done) return;
        done = true;
        // Best effort: a give-back lost to a Kv failure only makes the limit stricter.
        await this.kv.hitWindow(givenBack, this.windowMs, 1_000_000_000, at).catch(() => undefined);
      },
    };
  }

  /** The HTTP layer holds a slot for a login request while it runs (see `guard`). */
  hold(slot: LoginSlot): void {
    const held: HeldSlot = Object.assign(slot, { claimed: false });
    this.held.set(slot.subject, [...(this.held.get(slot.subject) ?? []), held]);
  }

  /** The request ended: give the slot back if it succeeded. */
  async finish(slot: LoginSlot, success: boolean): Promise<void> {
    const list = (this.held.get(slot.subject) ?? []).filter((s) => s !== slot);
    if (list.length === 0) this.held.delete(slot.subject);
    else this.held.set(slot.subject, list);
    if (success) await slot.release();
  }

  /**
   * Identity's LoginGuard, backed by the same counters. When the HTTP layer
   * already holds a slot for this address (a login route), identity's call
   * claims it instead of taking a second one, so an attempt never counts twice
   * whichever layer (or both) does the throttling.
   */
  readonly guard: LoginGuardLike = {
    reserve: async (facts) => {
      const subject = subjectOf(facts.ip ?? 'unknown');
      const open = this.held.get(subject)?.find((s) => !s.claimed);
      if (open) {
        open.claimed = true;
        this.guarded.set(facts, null);
        return;
      }
      this.guarded.set(facts, await this.reserve(facts.ip ?? 'unknown'));
    },
    settle: async (facts, success) => {
      const slot = this.guarded.get(facts);
      this.guarded.delete(facts);
      if (slot && success) await slot.release();
    },
  };
}
