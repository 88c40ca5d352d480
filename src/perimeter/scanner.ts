import type { Clock } from '../lib/clock.js';
import type { Kv } from '../store/kv/kv.js';
import { perimeterError } from './errors.js';

export type BlockTrigger = 'not_found' | 'auth_failures';

/** One blocked client (an IPv4 address or an IPv6 /64), as admins see it. */
export interface IpBlock {
  ip: string;
  reason: BlockTrigger;
  /** The count that tripped the block. */
  count: number;
  blockedAt: number;
  expiresAt: number;
}

const BLOCK = 'perimeter:block:';
const INDEX = 'perimeter:blocks:idx:';
const SEQ = 'perimeter:blocks:seq';
/** How many of the latest blocks a listing looks back over; older live ones are still enforced. */
const LIST_LOOKBACK = 1000;
const SEQ_TTL_MS = 365 * 86_400_000;

const counterKey = (trigger: BlockTrigger, subject: string) => `perimeter:scan:${trigger}:${subject}`;

/**
 * Blocked clients, in the Kv so every node enforces the same list. The Kv has
 * no key scan, so each new block also takes a sequence number (atomic INCR)
 * and leaves its address under it with the same TTL; a listing reads the
 * latest numbers back in one round trip.
 */
export class BlockList {
  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
  ) {}

  /** Whether `subject` is blocked; a Kv failure refuses the request (fail closed). */
  async isBlocked(subject: string): Promise<boolean> {
    try {
      return (await this.kv.get(BLOCK + subject)) !== null;
    } catch (err) {
      throw perimeterError('limiter_unavailable', { cause: err });
    }
  }

  /** Blocks `subject` for ttlMs; null when it was already blocked (another node got there first). */
  async block(subject: string, reason: BlockTrigger, count: number, ttlMs: number): Promise<IpBlock | null> {
    const now = this.clock.nowMs();
    const entry: IpBlock = { ip: subject, reason, count, blockedAt: now, expiresAt: now + ttlMs };
    if (!(await this.kv.setIfAbsent(BLOCK + subject, JSON.stringify(entry), ttlMs))) return null;
    const seq = await this.kv.incr(SEQ, SEQ_TTL_MS);
    await this.kv.set(INDEX + seq, subject, ttlMs);
    return entry;
  }

  /** Live blocks, newest first. */
  async list(): Promise<IpBlock[]> {
    const seq = Number((await this.kv.get(SEQ)) ?? '0');
    if (!Number.isSafeInteger(seq) || seq <= 0) return [];
    const numbers = Array.from({ length: Math.min(seq, LIST_LOOKBACK) }, (_, i) => seq - i);
    const subjects = [...new Set((await this.kv.getMany(numbers.map((n) => INDEX + n))).filter((s): s is string => s !== null))];
    const values = await this.kv.getMany(subjects.map((s) => BLOCK + s));
    const now = this.clock.nowMs();
    return values
      .flatMap((value) => {
        if (value === null) return [];
        try {
          return [JSON.parse(value) as IpBlock];
        } catch {
          return [];
        }
      })
      .filter((b) => b.expiresAt > now)
      .sort((a, b) => b.blockedAt - a.blockedAt);
  }

  /** Lifts a block and forgets the counts that led to it; false when there was none. */
  async lift(subject: string): Promise<boolean> {
    const existed = (await this.kv.get(BLOCK + subject)) !== null;
    await this.kv.del(BLOCK + subject);
    await this.kv.del(counterKey('not_found', subject));
    await this.kv.del(counterKey('auth_failures', subject));
    return existed;
  }
}

export interface ScannerRules {
  notFoundLimit: number;
  authFailureLimit: number;
  windowSeconds: number;
  blockSeconds: number;
}

/**
 * Scanner detection: a client causing more than N 404s or M
 * 401s within the window is blocked for a while on every route and node.
 */
export class ScannerDetector {
  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    private readonly blocks: BlockList,
    private readonly rules: ScannerRules,
  ) {}

  /** Counts one answer; returns the new block when this one tipped the client over. */
  async record(subject: string, status: number): Promise<IpBlock | null> {
    const trigger: BlockTrigger | null = status === 404 ? 'not_found' : status === 401 ? 'auth_failures' : null;
    if (!trigger) return null;
    const limit = trigger === 'not_found' ? this.rules.notFoundLimit : this.rules.authFailureLimit;
    // hitWindow records up to `limit`; the first refused hit is number limit + 1, "more than N".
    const hit = await this.kv.hitWindow(counterKey(trigger, subject), this.rules.windowSeconds * 1000, limit, this.clock.nowMs());
    if (hit.allowed) return null;
    return this.blocks.block(subject, trigger, limit + 1, this.rules.blockSeconds * 1000);
  }
}
