import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { createKv } from '../../src/store/kv/create.js';
import type { Kv } from '../../src/store/kv/kv.js';
import { MemoryKv } from '../../src/store/kv/memory.js';
import { RedisKv } from '../../src/store/kv/redis.js';
import { kvBackends } from '../harness/backends.js';
import { findOnPath, freePort, startRedis, type RunningService } from '../harness/services.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const backend of kvBackends()) {
  describe.skipIf(!backend.available)(`kv contract: ${backend.name}`, () => {
    let clock: ManualClock;
    let kv: Kv;

    beforeEach(async () => {
      clock = new ManualClock();
      kv = await backend.create(clock);
    });
    afterEach(async () => {
      await kv.close();
    });

    /** Lets TTLs run out: moves the fake clock, or waits when the store keeps real time. */
    async function elapse(ms: number): Promise<void> {
      if (backend.ttlFollowsClock) clock.advance(ms);
      else await sleep(ms);
    }

    describe('strings', () => {
      it('gets, sets, overwrites and deletes', async () => {
        expect(await kv.get('a')).toBeNull();
        await kv.set('a', 'one');
        expect(await kv.get('a')).toBe('one');
        await kv.set('a', 'two');
        expect(await kv.get('a')).toBe('two');
        await kv.del('a');
        expect(await kv.get('a')).toBeNull();
        await kv.del('never-set');
      });

      it('keeps values byte for byte', async () => {
        const value = 'ünïcødé ✓ "quoted" \n line';
        await kv.set('u', value);
        expect(await kv.get('u')).toBe(value);
      });

      it('reads many keys in one call, null for absent ones', async () => {
        await kv.set('m1', 'x');
        await kv.set('m3', 'z');
        expect(await kv.getMany(['m1', 'm2', 'm3'])).toEqual(['x', null, 'z']);
        expect(await kv.getMany([])).toEqual([]);
      });

      it('expires a value after its TTL', async () => {
        await kv.set('t', 'v', 300);
        await kv.set('keep', 'v');
        expect(await kv.get('t')).toBe('v');
        await elapse(400);
        expect(await kv.get('t')).toBeNull();
        expect(await kv.getMany(['t', 'keep'])).toEqual([null, 'v']);
      });

      it('a set without TTL clears an earlier TTL', async () => {
        await kv.set('t', 'v', 200);
        await kv.set('t', 'w');
        await elapse(300);
        expect(await kv.get('t')).toBe('w');
      });

      it('refuses a non-positive TTL', async () => {
        await expect(kv.set('t', 'v', 0)).rejects.toThrow(RangeError);
        await expect(kv.setIfAbsent('t', 'v', -1)).rejects.toThrow(RangeError);
        await expect(kv.incr('t', Number.NaN)).rejects.toThrow(RangeError);
      });
    });

    describe('setIfAbsent', () => {
      it('sets only when absent, and again after expiry', async () => {
        expect(await kv.setIfAbsent('n', 'first', 300)).toBe(true);
        expect(await kv.setIfAbsent('n', 'second', 300)).toBe(false);
        expect(await kv.get('n')).toBe('first');
        await elapse(400);
        expect(await kv.setIfAbsent('n', 'third', 300)).toBe(true);
        expect(await kv.get('n')).toBe('third');
      });

      it('lets exactly one of 50 concurrent callers win', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.setIfAbsent('race', `v${i}`, 60_000)));
        const winners = results.flatMap((won, i) => (won ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(await kv.get('race')).toBe(`v${winners[0]}`);
      });
    });

    describe('incr', () => {
      it('counts from 1', async () => {
        expect(await kv.incr('c', 60_000)).toBe(1);
        expect(await kv.incr('c', 60_000)).toBe(2);
        expect(await kv.incr('c', 60_000)).toBe(3);
        expect(await kv.get('c')).toBe('3');
      });

      it('sets the TTL when the counter is created and does not extend it', async () => {
        // Real-time margins (Redis) are generous on the side where a slow machine could flake.
        await kv.incr('c', 600);
        await elapse(300);
        expect(await kv.incr('c', 600)).toBe(2);
        await elapse(400);
        expect(await kv.incr('c', 600)).toBe(1);
      });

      it('gives a counter written without TTL one, so it cannot live forever', async () => {
        await kv.set('c', '5');
        expect(await kv.incr('c', 200)).toBe(6);
        await elapse(300);
        expect(await kv.get('c')).toBeNull();
      });

      it('loses no increment under 50 concurrent calls', async () => {
        const values = await Promise.all(Array.from({ length: 50 }, () => kv.incr('cc', 60_000)));
        expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      });

      it('refuses to increment a non-integer', async () => {
        await kv.set('s', 'abc');
        await expect(kv.incr('s', 1_000)).rejects.toThrow();
      });
    });

    describe('sliding window', () => {
      const window = 60_000;

      it('allows up to the limit, then refuses with the time until the oldest hit leaves', async () => {
        const t = clock.nowMs();
        expect(await kv.hitWindow('w', window, 3, t)).toEqual({ allowed: true, count: 1, retryAfterMs: window });
        expect(await kv.hitWindow('w', window, 3, t + 10)).toEqual({ allowed: true, count: 2, retryAfterMs: window - 10 });
        expect(await kv.hitWindow('w', window, 3, t + 20)).toEqual({ allowed: true, count: 3, retryAfterMs: window - 20 });
        const refused = await kv.hitWindow('w', window, 3, t + 30);
        expect(refused).toEqual({ allowed: false, count: 3, retryAfterMs: window - 30 });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        // A refused hit is not recorded.
        expect(await kv.countWindow('w', window, t + 30)).toBe(3);
      });

      it('slides: each hit leaves exactly windowMs after it was made', async () => {
        const t = clock.nowMs();
        await kv.hitWindow('w', window, 3, t);
        await kv.hitWindow('w', window, 3, t + 10);
        await kv.hitWindow('w', window, 3, t + 20);
        expect((await kv.hitWindow('w', window, 3, t + window - 1)).allowed).toBe(false);
        // The first hit leaves at t + window; the second is still in until t + window + 10.
        expect(await kv.hitWindow('w', window, 3, t + window)).toEqual({ allowed: true, count: 3, retryAfterMs: 10 });
        expect((await kv.hitWindow('w', window, 3, t + window + 5)).allowed).toBe(false);
        expect(await kv.countWindow('w', window, t + 3 * window)).toBe(0);
        expect((await kv.hitWindow('w', window, 3, t + 3 * window)).count).toBe(1);
      });

      it('a limit of 0 refuses everything and reports an empty window', async () => {
        expect(await kv.hitWindow('z', window, 0, clock.nowMs())).toEqual({ allowed: false, count: 0, retryAfterMs: 0 });
      });

      it('keeps keys apart', async () => {
        const t = clock.nowMs();
        await kv.hitWindow('k1', window, 1, t);
        expect((await kv.hitWindow('k1', window, 1, t)).allowed).toBe(false);
        expect((await kv.hitWindow('k2', window, 1, t)).allowed).toBe(true);
      });

      it('allows exactly the limit under 100 concurrent hits in the same millisecond', async () => {
        const t = clock.nowMs();
        const hits = await Promise.all(Array.from({ length: 100 }, () => kv.hitWindow('burst', window, 5, t)));
        expect(hits.filter((h) => h.allowed)).toHaveLength(5);
        expect(hits.every((h) => h.count <= 5)).toBe(true);
        expect(hits.filter((h) => !h.allowed).every((h) => h.retryAfterMs === window)).toBe(true);
        expect(await kv.countWindow('burst', window, t)).toBe(5);
      });

      it('countWindow counts without recording', async () => {
        const t = clock.nowMs();
        expect(await kv.countWindow('cw', window, t)).toBe(0);
        await kv.hitWindow('cw', window, 10, t);
        await kv.hitWindow('cw', window, 10, t + 1_000);
        expect(await kv.countWindow('cw', window, t + 1_000)).toBe(2);
        expect(await kv.countWindow('cw', window, t + 1_000)).toBe(2);
        expect(await kv.countWindow('cw', window, t + window)).toBe(1);
        expect(await kv.countWindow('cw', window, t + window + 1_000)).toBe(0);
      });
    });

    describe('locks', () => {
      it('is exclusive and only the owner releases it', async () => {
        expect(await kv.acquireLock('l', 'a', 60_000)).toBe(true);
        expect(await kv.acquireLock('l', 'b', 60_000)).toBe(false);
        expect(await kv.releaseLock('l', 'b')).toBe(false);
        expect(await kv.acquireLock('l', 'b', 60_000)).toBe(false);
        expect(await kv.releaseLock('l', 'a')).toBe(true);
        expect(await kv.releaseLock('l', 'a')).toBe(false);
        expect(await kv.acquireLock('l', 'b', 60_000)).toBe(true);
      });

      it('expires, and the old owner cannot release the new owner’s lock', async () => {
        expect(await kv.acquireLock('l', 'a', 200)).toBe(true);
        await elapse(300);
        expect(await kv.acquireLock('l', 'b', 60_000)).toBe(true);
        expect(await kv.releaseLock('l', 'a')).toBe(false);
        expect(await kv.acquireLock('l', 'a', 60_000)).toBe(false);
      });

      it('the holder renews its lease by acquiring again', async () => {
        expect(await kv.acquireLock('l', 'a', 600)).toBe(true);
        await elapse(350);
        expect(await kv.acquireLock('l', 'a', 600)).toBe(true);
        await elapse(350);
        expect(await kv.acquireLock('l', 'b', 600)).toBe(false);
      });

      it('goes to exactly one of 20 concurrent contenders', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => kv.acquireLock('lc', `owner-${i}`, 60_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('setIfNewer', () => {
      it('moves a version forward only, and keeps the value of the newest', async () => {
        expect(await kv.getVersioned('v')).toBeNull();
        expect(await kv.setIfNewer('v', 5, 'five')).toBe(true);
        expect(await kv.setIfNewer('v', 3, 'three')).toBe(false);
        expect(await kv.setIfNewer('v', 5, 'again')).toBe(false);
        expect(await kv.getVersioned('v')).toEqual({ version: 5, value: 'five' });
        expect(await kv.setIfNewer('v', 9, 'nine')).toBe(true);
        expect(await kv.getVersioned('v')).toEqual({ version: 9, value: 'nine' });
        await kv.del('v');
        expect(await kv.getVersioned('v')).toBeNull();
      });

      it('ends at the highest of 30 concurrent writers', async () => {
        const versions = Array.from({ length: 30 }, (_, i) => (i * 7) % 30);
        await Promise.all(versions.map((v) => kv.setIfNewer('vc', v, `value-${v}`)));
        expect(await kv.getVersioned('vc')).toEqual({ version: 29, value: 'value-29' });
      });

      it('refuses a version that is not a non-negative integer', async () => {
        await expect(kv.setIfNewer('v', -1, 'x')).rejects.toThrow(RangeError);
        await expect(kv.setIfNewer('v', 1.5, 'x')).rejects.toThrow(RangeError);
      });
    });

    describe('pub/sub', () => {
      it('delivers to every subscriber, in order, and stops after unsubscribe', async () => {
        const first: string[] = [];
        const second: string[] = [];
        const other: string[] = [];
        const unsubFirst = await kv.subscribe('ch', (m) => first.push(m));
        const unsubSecond = await kv.subscribe('ch', (m) => second.push(m));
        const unsubOther = await kv.subscribe('other', (m) => other.push(m));
        for (let i = 0; i < 10; i++) await kv.publish('ch', `m${i}`);
        const expected = Array.from({ length: 10 }, (_, i) => `m${i}`);
        await vi.waitFor(() => {
          expect(first).toEqual(expected);
          expect(second).toEqual(expected);
        });

        await unsubFirst();
        await kv.publish('ch', 'after');
        await vi.waitFor(() => expect(second).toContain('after'));
        expect(first).not.toContain('after');

        await unsubSecond();
        await kv.publish('ch', 'nobody');
        await sleep(100);
        expect(second).not.toContain('nobody');
        expect(other).toEqual([]);
        await unsubOther();
      });

      it('one throwing handler does not stop delivery to the others', async () => {
        const got: string[] = [];
        await kv.subscribe('ch', () => {
          throw new Error('handler bug');
        });
        await kv.subscribe('ch', (m) => got.push(m));
        await kv.publish('ch', 'x');
        await vi.waitFor(() => expect(got).toEqual(['x']));
      });

      it('publishing with no subscriber is fine, and the message is not kept for a later one', async () => {
        await expect(kv.publish('empty', 'early')).resolves.toBeUndefined();
        const got: string[] = [];
        const unsubscribe = await kv.subscribe('empty', (m) => got.push(m));
        await kv.publish('empty', 'late');
        await vi.waitFor(() => expect(got).toEqual(['late']));
        await unsubscribe();
      });
    });

    it('ping answers while open and throws once closed', async () => {
      await kv.ping();
      await kv.close();
      await expect(kv.ping()).rejects.toThrow();
    });
  });
}

describe('kv: memory only', () => {
  it('sweeps expired entries, by call and by its timer', async () => {
    const clock = new ManualClock();
    const kv = new MemoryKv(clock, { sweepIntervalMs: 20 });
    try {
      await kv.set('a', '1', 100);
      await kv.set('b', '2', 100);
      await kv.set('c', '3');
      clock.advance(200);
      expect(kv.sweep()).toBe(2);
      await kv.set('d', '4', 100);
      clock.advance(200);
      await sleep(100);
      expect(kv.sweep()).toBe(0);
      expect(await kv.get('c')).toBe('3');
    } finally {
      await kv.close();
    }
  });

  it('createKv without a url is the in-process store', async () => {
    const kv = await createKv({ clock: new ManualClock() });
    expect(kv).toBeInstanceOf(MemoryKv);
    await kv.close();
  });
});

const redisUrl = inject('redisUrl');

describe.skipIf(redisUrl === null)('kv: redis connection', () => {
  const url = new URL(redisUrl ?? 'redis://unused');
  const realPassword = decodeURIComponent(url.password);

  it('createKv with a url connects to Redis', async () => {
    const kv = await createKv({ url: url.toString(), clock: new ManualClock(), prefix: `test:${randomBytes(6).toString('hex')}:` });
    try {
      expect(kv).toBeInstanceOf(RedisKv);
      await kv.ping();
    } finally {
      await kv.close();
    }
  });

  it('a wrong password fails with a clear error that does not contain the password', async () => {
    const wrong = new URL(url);
    const badPassword = `wrong-${randomBytes(8).toString('hex')}`;
    wrong.password = badPassword;
    const err = await RedisKv.connect({ url: wrong.toString() }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const text = `${err?.message} ${String((err?.cause as Error | undefined)?.message)}`;
    expect(err?.message).toMatch(/cannot connect to Redis at 127\.0\.0\.1:\d+: .*(WRONGPASS|invalid password|NOAUTH)/);
    expect(text).not.toContain(badPassword);
    if (realPassword) expect(text).not.toContain(realPassword);
  });

  it('an unreachable server fails fast with host and port only', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(RedisKv.connect({ url: `redis://:secret-pw@127.0.0.1:${port}` })).rejects.toThrow(`cannot connect to Redis at 127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a URL that is not redis:// or rediss://', async () => {
    await expect(RedisKv.connect({ url: 'http://127.0.0.1:6379' })).rejects.toThrow(/redis:\/\/ or rediss:\/\//);
  });

  it('connects as an ACL user', async (ctx) => {
    const admin = new Redis(url.toString(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    const user = `flotilla-test-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    try {
      try {
        await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, `~${prefix}*`, `&${prefix}*`, '+@all');
      } catch {
        ctx.skip(); // a shared Redis may not let us manage users
      }
      const aclUrl = new URL(url);
      aclUrl.username = user;
      aclUrl.password = password;
      const kv = await RedisKv.connect({ url: aclUrl.toString(), prefix });
      try {
        await kv.set('k', 'v');
        expect(await kv.get('k')).toBe('v');
        await kv.del('k');
      } finally {
        await kv.close();
      }
    } finally {
      await admin.call('ACL', 'DELUSER', user).catch(() => {});
      admin.disconnect();
    }
  });

  it('fails commands at once while Redis is unreachable, and recovers', async () => {
    // A TCP proxy we can cut, standing in for a network failure.
    const target = { host: url.hostname, port: Number(url.port || 6379) };
    const sockets = new Set<Socket>();
    const listen = (port: number): Promise<Server> =>
      new Promise((resolve) => {
        const server = createServer((client) => {
          const upstream = connect(target.port, target.host);
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('error', () => {});
            s.on('close', () => sockets.delete(s));
          }
          client.pipe(upstream).pipe(client);
        });
        server.listen(port, '127.0.0.1', () => resolve(server));
      });
    const cut = (server: Server): Promise<void> => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      return closed;
    };
    const port = await freePort();
    let proxy = await listen(port);
    const proxied = new URL(url);
    proxied.host = `127.0.0.1:${port}`;
    const kv = await RedisKv.connect({ url: proxied.toString(), prefix: `test:${randomBytes(6).toString('hex')}:` });
    try {
      await kv.ping();
      await cut(proxy);

      const started = Date.now();
      await expect(kv.ping()).rejects.toThrow();
      await expect(kv.hitWindow('w', 60_000, 5, Date.now())).rejects.toThrow();
      await expect(kv.get('x')).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);

      proxy = await listen(port);
      await vi.waitFor(() => kv.ping(), { timeout: 10_000, interval: 200 });
    } finally {
      await kv.close();
      await cut(proxy);
    }
  });
});

const redisServer = findOnPath('redis-server');
const openssl = findOnPath('openssl');

describe.skipIf(!redisServer || !openssl)('kv: redis over TLS (rediss://)', () => {
  let dir: string;
  let ca: string;
  let server: RunningService;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-redis-tls-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(openssl!, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'ignore' });
    ca = readFileSync(certFile, 'utf8');
    server = await startRedis(redisServer!, { tls: { certFile, keyFile, ca } });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with a trusted CA', async () => {
    expect(server.url.startsWith('rediss://')).toBe(true);
    const kv = await RedisKv.connect({ url: server.url, tls: { ca } });
    try {
      await kv.set('k', 'v');
      expect(await kv.get('k')).toBe('v');
    } finally {
      await kv.close();
    }
  });

  it('refuses a certificate it cannot verify', async () => {
    await expect(RedisKv.connect({ url: server.url, connectTimeoutMs: 2_000 })).rejects.toThrow(/cannot connect to Redis at 127\.0\.0\.1:\d+: .*certificate/i);
  });
});
