/**
 * Shared ephemeral state. One interface, two implementations
 * (memory for embedded mode, Redis for cluster mode) and one contract suite.
 * Every compound operation is atomic: callers never get-then-set.
 */
export interface WindowHit {
  /** Whether this hit was within the limit (and so was recorded). */
  readonly allowed: boolean;
  /** Hits in the window after this one (not counting a refused hit). */
  readonly count: number;
  /** Milliseconds until the oldest hit in the window leaves it (0 if empty). */
  readonly retryAfterMs: number;
}

export interface Versioned {
  readonly version: number;
  readonly value: string;
}

export type Unsubscribe = () => Promise<void>;

export interface Kv {
  /** True when other processes share this state (Redis); false for the in-process store. */
  readonly shared: boolean;
  get(key: string): Promise<string | null>;
  /** Reads several keys in one round trip; null for each absent key. */
  getMany(keys: string[]): Promise<(string | null)[]>;
  /** Sets a value; with ttlMs it expires after that many milliseconds. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets only when absent; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Increments a counter; the TTL is set when the counter is created. */
  incr(key: string, ttlMs: number): Promise<number>;
  /**
   * Sliding-window log: drops hits older than windowMs before nowMs, then
   * records this hit only if fewer than `limit` remain.
   */
  hitWindow(key: string, windowMs: number, limit: number, nowMs: number): Promise<WindowHit>;
  /** Number of hits in the window without recording one. */
  countWindow(key: string, windowMs: number, nowMs: number): Promise<number>;
  /**
   * A lock held by `owner` until released or ttlMs passes. The holder calling
   * again renews it (so a leader can keep its lease); anyone else gets false.
   */
  acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock only if `owner` still holds it. */
  releaseLock(key: string, owner: string): Promise<boolean>;
  /**
   * Stores value under a version unless the key already holds that version
   * or a later one, so several writers move it forward only; no TTL. True
   * when this call stored it.
   */
  setIfNewer(key: string, version: number, value: string): Promise<boolean>;
  /** What setIfNewer stored, or null. */
  getVersioned(key: string): Promise<Versioned | null>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe>;
  /** Throws when the store cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Both implementations refuse the same versions. */
export function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError('version must be a non-negative integer');
  return version;
}
