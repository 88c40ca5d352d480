import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RoutePolicy } from '../../src/protocol/route-policy.js';
import { ManualClock } from '../../src/lib/clock.js';
import { commonError } from '../../src/lib/errors.js';
import type { Reply } from '../harness/client.js';
import { findOnPath, startRedis } from '../harness/services.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { buildTestApp, SECURE_PERIMETER_ENV } from './helpers.js';
import { kvBackend, kvBackends, redisServerEnv } from '../harness/backends.js';

const statuses = (replies: Reply[]) => replies.reduce<Record<number, number>>((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {});
/** Scanner blocking would step in first on a stream of 401s and 404s; these suites test the limiter alone. */
const NO_SCANNER = { FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '100000', FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '100000' };

for (const backend of kvBackends()) {
  describe.skipIf(!backend.available)(`rate limits (${backend.name} Kv)`, () => {
    let t: TestServer;
    const clock = new ManualClock(Date.now());
    beforeAll(async () => {
      t = await startTestServer({ clock, env: { ...backend.serverEnv(), ...SECURE_PERIMETER_ENV, ...NO_SCANNER, FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '5', FLOTILLA_PERIMETER_RATE_LIMIT_USER_WINDOW_SECONDS: '60' } });
    });
    afterAll(async () => t?.close());
    // Each case starts with empty windows.
    const nextWindow = () => clock.advance(3_600_000);

    it('allows 100 requests a minute per IP, then answers 429 with Retry-After and RateLimit headers', async () => {
      nextWindow();
      const c = t.client();
      for (let i = 0; i < 100; i++) {
        const ok = await c.get('/api/openapi.json');
        expect(ok.status, `request ${i + 1}`).toBe(200);
      }
      const last = await c.get('/api/auth/nothing-here');
      expect(last.status).toBe(429);
      expect(last.json).toEqual({ error: { code: 'rate_limited', message: 'too many requests; try again later' } });
      const retryAfter = Number(last.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(last.headers['ratelimit-policy']).toBe('"ip";q=100;w=60');
      expect(last.headers.ratelimit).toBe(`"ip";r=0;t=${retryAfter}`);
      // Hashed dashboard files do not spend the API budget: a page load must work for an office behind one NAT.
      expect((await c.get('/assets/not-there.js')).status).toBe(404);
      // Another client on the same address shares the budget; the window slides open again.
      expect((await t.client().get('/api/openapi.json')).status).toBe(429);
      clock.advance(60_001);
      const again = await c.get('/api/openapi.json');
      expect(again.status).toBe(200);
      expect(again.headers.ratelimit).toBe('"ip";r=99;t=60');
    });

    it('limits each signed-in user on their own budget', async () => {
      nextWindow();
      const admin = await adminClient(t);
      // Past the user's window (the sign-in's own requests counted), well inside the session's idle timeout.
      clock.advance(61_000);
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await admin.get('/api/me'));
      expect(results.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(results[5]?.status).toBe(429);
      expect(results[5]?.headers['ratelimit-policy']).toContain('"user";q=5;w=60');
      // Anonymous requests from the same address are not this user's.
      expect((await t.client().get('/healthz')).status).toBe(200);
      expect((await t.client().get('/api/me')).status).toBe(401);
    });

    it('limits agents per agent id, not per address', async () => {
      nextWindow();
      const c = t.client();
      const send = (agentId: string) => c.post('/api/agent/report', {}, { bearer: `fla_${agentId}_${'A'.repeat(43)}`, cookies: false });
      const one = randomUUID();
      const first = [];
      for (let i = 0; i < 300; i++) first.push(await send(one));
      expect(first.every((r) => r.status !== 429)).toBe(true);
      const over = await send(one);
      expect(over.status).toBe(429);
      expect(over.headers['ratelimit-policy']).toBe('"agent";q=300;w=60');
      // The same address keeps working for other agents, far past the 100-per-IP budget.
      const others = await Promise.all(Array.from({ length: 20 }, () => send(randomUUID())));
      expect(others.every((r) => r.status !== 429)).toBe(true);
    });

    it('lets exactly 5 of 100 simultaneous failed logins from one IP reach the password check', async () => {
      nextWindow();
      const c = t.client();
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => c.post('/api/auth/login', { username: `ghost-${i}`, password: 'Wrong-Password-1!' }, { cookies: false })));
      expect(statuses(replies)).toEqual({ 401: 5, 429: 95 });
      const limited = replies.find((r) => r.status === 429);
      expect(limited?.headers['ratelimit-policy']).toContain('"login";q=5;w=300');
      expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('counts failed logins only: a success gives its slot back', async () => {
      nextWindow();
      const fail = (i: number) => t.client().post('/api/auth/token', { username: `ghost-b${i}`, password: 'Wrong-Password-1!' });
      const succeed = () => t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD });
      for (let i = 0; i < 4; i++) expect((await fail(i)).status).toBe(401);
      for (let i = 0; i < 10; i++) expect((await succeed()).status, `success ${i}`).toBe(200);
      expect((await fail(4)).status).toBe(401);
      expect((await fail(5)).status).toBe(429);
      // Five failures in the window: even the right password waits now (reserve before verify).
      expect((await succeed()).status).toBe(429);
      clock.advance(300_001);
      expect((await succeed()).status).toBe(200);
    });
  });
}

describe.skipIf(!kvBackend('redis').available)('rate limits across two servers sharing one Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const env = { ...redisServerEnv(), ...SECURE_PERIMETER_ENV, ...NO_SCANNER };
    a = await startTestServer({ env });
    b = await startTestServer({ env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('holds the per-IP limit and the login limit across nodes', async () => {
    const logins = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).client().post('/api/auth/login', { username: `ghost-${i}`, password: 'Wrong-Password-1!' }, { cookies: false })),
    );
    expect(statuses(logins)).toEqual({ 401: 5, 429: 35 });
    const ca = a.client();
    const cb = b.client();
    const replies: Reply[] = [];
    for (let i = 0; i < 150; i++) replies.push(await (i % 2 === 0 ? ca : cb).get('/api/openapi.json'));
    // 40 logins already spent part of the 100-per-minute budget.
    expect(statuses(replies)).toEqual({ 200: 60, 429: 90 });
  });
});

describe.skipIf(!findOnPath('redis-server'))('when the Kv is down', () => {
  it('fails closed with 503 while health probes keep answering', async () => {
    const redis = await startRedis(findOnPath('redis-server') ?? '');
    const t = await startTestServer({ env: { ...redisServerEnv(redis.url), ...SECURE_PERIMETER_ENV } });
    try {
      expect((await t.client().get('/api/openapi.json')).status).toBe(200);
      await redis.stop();
      for (const path of ['/api/openapi.json', '/api/me', '/api/nope']) {
        const res = await t.client().get(path);
        expect(res.status, path).toBe(503);
        expect(res.json.error.code).toBe('limiter_unavailable');
      }
      const login = await t.client().post('/api/auth/login', { username: 'admin', password: t.adminPassword });
      expect(login.status).toBe(503);
      expect((await t.client().get('/healthz')).status).toBe(200);
      expect((await t.client().get('/readyz')).json.checks.kv).toBe('unreachable');
      expect(t.server.app.perimeter.stats.refused.limiter_unavailable).toBeGreaterThanOrEqual(4);
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});

describe.skipIf(!kvBackend('redis').available)('when the Kv refuses one kind of operation', () => {
  // Real Redis ACL users that may not run scripts (the limiter) or may not read keys (the block list).
  const cases = [
    { name: 'the limiter', rules: ['-evalsha', '-eval', '-script'] },
    { name: 'the block list', rules: ['-get', '-mget'] },
  ];
  for (const { name, rules } of cases) {
    it(`fails closed when ${name} cannot be read`, async () => {
      const url = new URL(inject('redisUrl') ?? '');
      const user = `flotilla-test-${randomUUID().slice(0, 8)}`;
      const password = randomUUID();
      const root = new Redis(url.toString(), { lazyConnect: true });
      await root.connect();
      await root.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all', ...rules);
      const limited = new URL(url.toString());
      limited.username = user;
      limited.password = password;
      const t = await startTestServer({ env: { ...redisServerEnv(limited.toString()), ...SECURE_PERIMETER_ENV } });
      try {
        const res = await t.client().get('/api/openapi.json');
        expect(res.status).toBe(503);
        expect(res.json.error.code).toBe('limiter_unavailable');
        expect((await t.client().get('/healthz')).status).toBe(200);
      } finally {
        await t.close();
        await root.call('ACL', 'DELUSER', user);
        await root.quit();
      }
    });
  }
});

describe('named endpoint limits', () => {
  it('applies a limit a route declares in config.policy.rateLimit, and refuses an unknown name at boot', async () => {
    const t = await buildTestApp({ env: { FLOTILLA_PERIMETER_RATE_LIMIT_ENDPOINTS: '{"burst":{"limit":2,"windowSeconds":60}}' } });
    try {
      t.app.get('/test/burst', { config: { policy: { auth: 'none', rateLimit: 'burst' } as RoutePolicy } }, async () => ({ ok: true }));
      expect(() => t.app.get('/test/typo', { config: { policy: { auth: 'none', rateLimit: 'brust' } as RoutePolicy } }, async () => ({}))).toThrow(/unknown rate limit "brust"/);
      await t.app.ready();
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await t.app.inject({ url: '/test/burst' })).statusCode);
      expect(codes).toEqual([200, 200, 429]);
      const last = await t.app.inject({ url: '/test/burst' });
      expect(last.headers['ratelimit-policy']).toContain('"burst";q=2;w=60');
      expect(t.app.perimeter.stats.rateLimitedByPolicy.get('burst')).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('the failed-login limit', () => {
  it('applies to every route that declares rateLimit \'login\', whatever its URL, and to no other', async () => {
    const t = await buildTestApp({ env: { FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '2', FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_WINDOW_SECONDS: '300' } });
    try {
      const refuse = async () => {
        throw commonError('unauthorized');
      };
      t.app.post('/test/sign-in-step', { config: { policy: { auth: 'none', rateLimit: 'login' } } }, refuse);
      t.app.post('/test/other-step', { config: { policy: { auth: 'none' } } }, refuse);
      await t.app.ready();
      const attempt = async (url: string) => (await t.app.inject({ method: 'POST', url, remoteAddress: '198.51.100.40' })).statusCode;
      expect([await attempt('/test/other-step'), await attempt('/test/other-step'), await attempt('/test/other-step')]).toEqual([401, 401, 401]);
      expect([await attempt('/test/sign-in-step'), await attempt('/test/sign-in-step'), await attempt('/test/sign-in-step')]).toEqual([401, 401, 429]);
      const limited = await t.app.inject({ method: 'POST', url: '/test/sign-in-step', remoteAddress: '198.51.100.40' });
      expect(limited.headers['ratelimit-policy']).toContain('"login";q=2;w=300');
      // The budget is per address.
      expect((await t.app.inject({ method: 'POST', url: '/test/sign-in-step', remoteAddress: '198.51.100.41' })).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });
});
