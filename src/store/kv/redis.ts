import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { checkVersion, type Kv, type Unsubscribe, type Versioned, type WindowHit } from './kv.js';

export interface RedisKvOptions {
  /** redis:// or rediss:// URL; may carry a password or an ACL user and password. */
  url: string;
  /** Prepended to every key and channel (default `flotilla:`). */
  prefix?: string;
  connectTimeoutMs?: number;
  /** A command not answered in this time fails instead of waiting forever. */
  commandTimeoutMs?: number;
  /** Extra TLS settings for rediss:// (e.g. a private CA). */
  tls?: ConnectionOptions;
  /** Connection errors after start-up (reconnects are automatic). */
  onError?: (err: Error) => void;
  /** Called when a subscriber's handler throws. */
  onSubscriberError?: (err: unknown, channel: string) => void;
}

/**
 * Lua scripts keep each compound operation atomic on the server: no other
 * client can run between the read and the write.
 */
const scripts = {
  // INCR, and give the counter an expiry if it has none (new, or written without one).
  flotillaIncr: {
    numberOfKeys: 1,
    lua: `
local v = redis.call('INCR', KEYS[1])
if v == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v`,
  },
  // Sliding-window log in a sorted set scored by hit time; each member is unique
  // so two hits in the same millisecond both count.
  flotillaHitWindow: {
    numberOfKeys: 1,
    lua: `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  count = count + 1
  allowed = 1
end
local retry = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  retry = tonumber(oldest[2]) + window - now
  if retry < 0 then retry = 0 end
  redis.call('PEXPIRE', KEYS[1], window)
end
return {allowed, count, retry}`,
  },
  // Take a free lock, or renew one this owner already holds.
  flotillaAcquireLock: {
    numberOfKeys: 1,
    lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`,
  },
  // Compare-and-delete: a lock that expired and was taken by another owner stays theirs.
  flotillaReleaseLock: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`,
  },
  // Compare-and-advance: a writer that lags behind never moves the version back.
  flotillaSetIfNewer: {
    numberOfKeys: 1,
    lua: `
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'value', ARGV[2])
return 1`,
  },
} as const;

interface ScriptedRedis extends Redis {
  flotillaIncr(key: string, ttlMs: number): Promise<number>;
  flotillaHitWindow(key: string, nowMs: number, windowMs: number, limit: number, member: string): Promise<[number, number, number]>;
  flotillaAcquireLock(key: string, owner: string, ttlMs: number): Promise<number>;
  flotillaReleaseLock(key: string, owner: string): Promise<number>;
  flotillaSetIfNewer(key: string, version: number, value: string): Promise<number>;
}

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive number');
  return Math.ceil(ttlMs);
}

/** host:port for messages; never the URL itself, which may hold a password. */
function describe(url: URL): string {
  return `${url.hostname}:${url.port || '6379'}`;
}

/** Removes the password from a message, in case a library ever echoes it. */
function redact(message: string, secret: string): string {
  return secret.length > 0 ? message.split(secret).join('***') : message;
}

async function openConnection(options: RedisKvOptions, purpose: string): Promise<ScriptedRedis> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new Error('redis url is not a valid URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('redis url must start with redis:// or rediss://');
  const password = decodeURIComponent(url.password);

  const redisOptions: RedisOptions = {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    commandTimeout: options.commandTimeoutMs ?? 5_000,
    // Fail fast: a security check waiting on Redis must be able to fail closed.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `flotilla-${purpose}`,
  };
  if (options.tls) redisOptions.tls = options.tls;
  const client = new Redis(options.url, redisOptions) as ScriptedRedis;
  for (const [name, definition] of Object.entries(scripts)) client.defineCommand(name, definition);

  let lastError: Error | undefined;
  const captureError = (err: Error): void => {
    lastError = err;
  };
  client.on('error', captureError);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const reason = redact((lastError ?? (err as Error)).message, password);
    throw new Error(`cannot connect to Redis at ${describe(url)}: ${reason}`, { cause: lastError ?? err });
  }
  client.off('error', captureError);
  client.on('error', (err: Error) => options.onError?.(err));
  // Queue nothing while disconnected: commands reject at once until the reconnect succeeds.
  client.options.enableOfflineQueue = false;
  return client;
}

type Subscription = { handlers: Set<(message: string) => void>; ready: Promise<unknown> };

/** The Kv of cluster mode, shared by every node through one Redis. */
export class RedisKv implements Kv {
  readonly shared = true;
  private readonly prefix: string;
  private readonly instanceId = randomBytes(8).toString('hex');
  private hitSeq = 0;
  private subscriber: Promise<ScriptedRedis> | undefined;
  private readonly subscriptions = new Map<string, Subscription>();

  private constructor(
    private readonly client: ScriptedRedis,
    private readonly options: RedisKvOptions,
  ) {
    this.prefix = options.prefix ?? 'flotilla:';
  }

  /** Connects and checks the server answers; throws a message without secrets otherwise. */
  static async connect(options: RedisKvOptions): Promise<RedisKv> {
    return new RedisKv(await openConnection(options, 'kv'), options);
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(this.k(key));
  }

  async getMany(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.client.mget(keys.map((key) => this.k(key)));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    if (ttlMs === undefined) await this.client.set(this.k(key), value);
    else await this.client.set(this.k(key), value, 'PX', checkTtl(ttlMs));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(this.k(key), value, 'PX', checkTtl(ttlMs), 'NX')) === 'OK';
  }

  async del(key: string): Promise<void> {
    await this.client.del(this.k(key));
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    return this.client.flotillaIncr(this.k(key), checkTtl(ttlMs));
  }

  async hitWindow(key: string, windowMs: number, limit: number, nowMs: number): Promise<WindowHit> {
    const member = `${nowMs}:${this.instanceId}:${this.hitSeq++}`;
    const [allowed, count, retryAfterMs] = await this.client.flotillaHitWindow(this.k(key), nowMs, checkTtl(windowMs), limit, member);
    return { allowed: allowed === 1, count, retryAfterMs };
  }

  async countWindow(key: string, windowMs: number, nowMs: number): Promise<number> {
    // Exclusive lower bound: a hit exactly windowMs old has left the window.
    return this.client.zcount(this.k(key), `(${nowMs - windowMs}`, '+inf');
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.client.flotillaAcquireLock(this.k(key), owner, checkTtl(ttlMs))) === 1;
  }

  async releaseLock(key: string, owner: string): Promise<boolean> {
    return (await this.client.flotillaReleaseLock(this.k(key), owner)) === 1;
  }

  async setIfNewer(key: string, version: number, value: string): Promise<boolean> {
    return (await this.client.flotillaSetIfNewer(this.k(key), checkVersion(version), value)) === 1;
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    const [version, value] = await this.client.hmget(this.k(key), 'version', 'value');
    return version == null || value == null ? null : { version: Number(version), value };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.k(channel), message);
  }

  /** A connection in subscriber mode can run nothing else, hence a second one. */
  private subscriberConnection(): Promise<ScriptedRedis> {
    if (!this.subscriber) {
      const opening = openConnection(this.options, 'kv-sub').then((sub) => {
        sub.on('message', (channel: string, message: string) => this.deliver(channel, message));
        return sub;
      });
      // A failed attempt is not cached, so the next subscribe tries again.
      opening.catch(() => {
        if (this.subscriber === opening) this.subscriber = undefined;
      });
      this.subscriber = opening;
    }
    return this.subscriber;
  }

  private deliver(channel: string, message: string): void {
    const subscription = this.subscriptions.get(channel);
    if (!subscription) return;
    for (const handler of [...subscription.handlers]) {
      try {
        handler(message);
      } catch (err) {
        this.options.onSubscriberError?.(err, channel.slice(this.prefix.length));
      }
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    const name = this.k(channel);
    const handler = (message: string): void => onMessage(message);
    let subscription = this.subscriptions.get(name);
    if (!subscription) {
      const ready = this.subscriberConnection().then((sub) => sub.subscribe(name));
      subscription = { handlers: new Set(), ready };
      this.subscriptions.set(name, subscription);
      ready.catch(() => {
        if (this.subscriptions.get(name) === subscription) this.subscriptions.delete(name);
      });
    }
    subscription.handlers.add(handler);
    try {
      // Resolve only once the server has confirmed, so no message published after this is missed.
      await subscription.ready;
    } catch (err) {
      subscription.handlers.delete(handler);
      throw err;
    }
    const own = subscription;
    return async () => {
      own.handlers.delete(handler);
      if (own.handlers.size > 0 || this.subscriptions.get(name) !== own) return;
      this.subscriptions.delete(name);
      const sub = await this.subscriber;
      // Someone may have subscribed again meanwhile; then the server side must stay. With the connection down there
      // is nothing to undo (a subscription dies with its connection), so unsubscribing never fails a shutdown.
      if (!this.subscriptions.has(name)) await sub?.unsubscribe(name).catch(() => undefined);
    };
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    this.subscriptions.clear();
    const sub = this.subscriber ? await this.subscriber.catch(() => undefined) : undefined;
    this.subscriber = undefined;
    await Promise.all([quit(this.client), sub ? quit(sub) : Promise.resolve()]);
  }
}

/** QUIT politely; if the server is gone, just drop the socket. */
async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
