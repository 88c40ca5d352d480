import type { Clock } from '../../lib/clock.js';
import type { Kv } from './kv.js';
import { MemoryKv } from './memory.js';
import { RedisKv } from './redis.js';

export interface CreateKvOptions {
  /** redis:// or rediss:// URL; absent means the in-process store (embedded mode). */
  url?: string;
  /** Drives TTLs of the in-process store; Redis keeps its own time. */
  clock: Clock;
  /** Key and channel prefix in Redis (default `flotilla:`). */
  prefix?: string;
  /** Errors Redis reports after start-up, for the log. */
  onError?: (err: Error) => void;
}

/** Builds the Kv for the deployment mode; a Redis that cannot be reached stops the boot. */
export async function createKv(opts: CreateKvOptions): Promise<Kv> {
  if (!opts.url) return new MemoryKv(opts.clock);
  return RedisKv.connect({ url: opts.url, prefix: opts.prefix, onError: opts.onError });
}
