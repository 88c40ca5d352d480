import type { Clock } from '../lib/clock.js';
import type { Kv, WindowHit } from '../store/kv/kv.js';
import { perimeterError } from './errors.js';

export interface RateRule {
  limit: number;
  windowSeconds: number;
}

/** Where one policy stands after a hit, for the RateLimit headers. */
export interface RateUsage {
  policy: string;
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Seconds until the oldest counted hit leaves the window. */
  resetSeconds: number;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function usageOf(policy: string, rule: RateRule, hit: WindowHit, limit = rule.limit): RateUsage {
  return { policy, limit: rule.limit, windowSeconds: rule.windowSeconds, remaining: Math.max(0, limit - hit.count), resetSeconds: seconds(hit.retryAfterMs) };
}

/**
 * RateLimit-Policy and RateLimit in the IETF draft's structured-field form
 * (draft-ietf-httpapi-ratelimit-headers-10): `"ip";q=100;w=60` and `"ip";r=99;t=60`.
 */
export function rateLimitHeaders(usages: readonly RateUsage[]): Record<string, string> {
  if (usages.length === 0) return {};
  return {
    'ratelimit-policy': usages.map((u) => `"${u.policy}";q=${u.limit};w=${u.windowSeconds}`).join(', '),
    ratelimit: usages.map((u) => `"${u.policy}";r=${u.remaining};t=${u.resetSeconds}`).join(', '),
  };
}

/** The 429: Retry-After says when the next hit fits again; the RateLimit fields name the policy that refused. */
export function rateLimitedError(usage: RateUsage) {
  return perimeterError('rate_limited', { headers: { 'retry-after': String(usage.resetSeconds), ...rateLimitHeaders([usage]) } });
}

/**
 * Our own sliding-window limiter on the Kv: one atomic
 * `hitWindow` per check (a Lua script in Redis), so every node sharing the
 * Redis counts the same window. A Kv failure refuses the request (503).
 */
export class RateLimiter {
  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
  ) {}

  /** Counts one hit; throws `rate_limited` (with the usage in `onUsage`) when over the limit. */
  async hit(policy: string, rule: RateRule, subject: string, onUsage?: (usage: RateUsage) => void): Promise<RateUsage> {
    let hit: WindowHit;
    try {
      hit = await this.kv.hitWindow(`perimeter:rl:${policy}:${subject}`, rule.windowSeconds * 1000, rule.limit, this.clock.nowMs());
    } catch (err) {
      throw perimeterError('limiter_unavailable', { cause: err });
    }
    const usage = usageOf(policy, rule, hit);
    onUsage?.(usage);
    if (!hit.allowed) throw rateLimitedError(usage);
    return usage;
  }
}
