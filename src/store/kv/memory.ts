import { systemClock, type Clock } from '../../lib/clock.js';
import { checkVersion, type Kv, type Unsubscribe, type Versioned, type WindowHit } from './kv.js';

/** A string value, or the hit log of a sliding window (sorted ascending). */
type Entry =
  | { kind: 'string'; value: string; expiresAt: number | null }
  | { kind: 'window'; hits: number[]; expiresAt: number | null }
  | { kind: 'versioned'; version: number; value: string; expiresAt: null };

export interface MemoryKvOptions {
  /** How often expired entries are swept; they are also dropped lazily on read. */
  sweepIntervalMs?: number;
  /** Called when a subscriber's handler throws; one bad handler must not stop the others. */
  onSubscriberError?: (err: unknown, channel: string) => void;
}

/** Same rules as Redis, so both implementations refuse the same inputs. */
function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive number');
  return Math.ceil(ttlMs);
}

function wrongType(): Error {
  return new Error('WRONGTYPE operation against a key holding the wrong kind of value');
}

/**
 * The in-process Kv of embedded mode. Every operation runs synchronously
 * inside its promise, so each is atomic in a single Node process.
 */
export class MemoryKv implements Kv {
  readonly shared = false;
  private readonly entries = new Map<string, Entry>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  private readonly onSubscriberError: (err: unknown, channel: string) => void;
  private closed = false;

  constructor(
    private readonly clock: Clock = systemClock,
    options: MemoryKvOptions = {},
  ) {
    this.onSubscriberError = options.onSubscriberError ?? (() => {});
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    // The sweep only frees memory; it must never keep the process alive.
    this.sweepTimer.unref();
  }

  /** Drops every expired entry; returns how many were removed. */
  sweep(): number {
    const now = this.clock.nowMs();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.clock.nowMs()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private liveString(key: string): string | null {
    const entry = this.live(key);
    if (!entry) return null;
    if (entry.kind !== 'string') throw wrongType();
    return entry.value;
  }

  private expiry(ttlMs: number | undefined): number | null {
    return ttlMs === undefined ? null : this.clock.nowMs() + checkTtl(ttlMs);
  }

  async get(key: string): Promise<string | null> {
    return this.liveString(key);
  }

  async getMany(keys: string[]): Promise<(string | null)[]> {
    // Like MGET: a key of another kind reads as absent rather than failing all.
    return keys.map((key) => {
      const entry = this.live(key);
      return entry?.kind === 'string' ? entry.value : null;
    });
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.entries.set(key, { kind: 'string', value, expiresAt: this.expiry(ttlMs) });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const expiresAt = this.expiry(ttlMs);
    if (this.live(key)) return false;
    this.entries.set(key, { kind: 'string', value, expiresAt });
    return true;
  }

  async del(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const ttl = checkTtl(ttlMs);
    const current = this.liveString(key);
    const entry = this.entries.get(key);
    const next = (current === null ? 0 : parseCounter(current)) + 1;
    // A counter without an expiry (e.g. written by set) gets one, so it cannot live forever.
    const expiresAt = current === null || !entry?.expiresAt ? this.clock.nowMs() + ttl : entry.expiresAt;
    this.entries.set(key, { kind: 'string', value: String(next), expiresAt });
    return next;
  }

  private windowHits(key: string, windowMs: number, nowMs: number): number[] {
    const entry = this.live(key);
    if (!entry) return [];
    if (entry.kind !== 'window') throw wrongType();
    // A hit at t stays in the window while nowMs - t < windowMs.
    const floor = nowMs - windowMs;
    const firstKept = entry.hits.findIndex((t) => t > floor);
    if (firstKept === -1) entry.hits.length = 0;
    else if (firstKept > 0) entry.hits.splice(0, firstKept);
    return entry.hits;
  }

  async hitWindow(key: string, windowMs: number, limit: number, nowMs: number): Promise<WindowHit> {
    const window = checkTtl(windowMs);
    const hits = this.windowHits(key, window, nowMs);
    const allowed = hits.length < limit;
    if (allowed) {
      // Keep the log sorted even if callers' clocks disagree slightly.
      let i = hits.length;
      while (i > 0 && (hits[i - 1] as number) > nowMs) i--;
      hits.splice(i, 0, nowMs);
    }
    const oldest = hits[0];
    if (hits.length === 0) this.entries.delete(key);
    else this.entries.set(key, { kind: 'window', hits, expiresAt: this.clock.nowMs() + window });
    return { allowed, count: hits.length, retryAfterMs: oldest === undefined ? 0 : Math.max(0, oldest + window - nowMs) };
  }

  async countWindow(key: string, windowMs: number, nowMs: number): Promise<number> {
    const entry = this.live(key);
    if (!entry) return 0;
    if (entry.kind !== 'window') throw wrongType();
    const floor = nowMs - windowMs;
    return entry.hits.filter((t) => t > floor).length;
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const expiresAt = this.expiry(ttlMs);
    const holder = this.liveString(key);
    if (holder !== null && holder !== owner) return false;
    this.entries.set(key, { kind: 'string', value: owner, expiresAt });
    return true;
  }

  async releaseLock(key: string, owner: string): Promise<boolean> {
    if (this.liveString(key) !== owner) return false;
    this.entries.delete(key);
    return true;
  }

  async setIfNewer(key: string, version: number, value: string): Promise<boolean> {
    checkVersion(version);
    const current = this.getVersionedEntry(key);
    if (current && current.version >= version) return false;
    this.entries.set(key, { kind: 'versioned', version, value, expiresAt: null });
    return true;
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    return this.getVersionedEntry(key);
  }

  private getVersionedEntry(key: string): Versioned | null {
    const entry = this.live(key);
    if (!entry) return null;
    if (entry.kind !== 'versioned') throw wrongType();
    return { version: entry.version, value: entry.value };
  }

  async publish(channel: string, message: string): Promise<void> {
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    // Deliver asynchronously, as Redis does, so a handler never runs inside publish().
    for (const handler of [...handlers]) {
      setImmediate(() => {
        if (!this.channels.get(channel)?.has(handler)) return;
        try {
          handler(message);
        } catch (err) {
          this.onSubscriberError(err, channel);
        }
      });
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    let handlers = this.channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const handler = (message: string): void => onMessage(message);
    handlers.add(handler);
    return async () => {
      const current = this.channels.get(channel);
      current?.delete(handler);
      if (current?.size === 0) this.channels.delete(channel);
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('kv is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.channels.clear();
    this.entries.clear();
  }
}

function parseCounter(value: string): number {
  const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new Error('ERR value is not an integer or out of range');
  return n;
}
