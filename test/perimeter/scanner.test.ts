import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { buildTestApp, expectSecurityHeaders, SECURE_PERIMETER_ENV, type TestApp } from './helpers.js';
import { kvBackend, kvBackends, redisServerEnv } from '../harness/backends.js';

describe('scanner blocking (defaults: 30 404s or 20 401s in 10 minutes block for an hour)', () => {
  let t: TestApp;
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    t = await buildTestApp({ clock, env: { ...SECURE_PERIMETER_ENV, FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '100000' } });
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  const from = (remoteAddress: string, url: string) => t.app.inject({ url, remoteAddress });

  it('blocks an address after more than 30 404s, on every route, for an hour', async () => {
    const scanner = '198.51.100.66';
    for (let i = 0; i < 30; i++) expect((await from(scanner, `/wp-admin/${i}.php`)).statusCode).toBe(404);
    expect((await from(scanner, '/api/me')).statusCode).toBe(401);
    expect(t.app.perimeter.stats.ipBlocks).toBe(0);
    expect((await from(scanner, '/.env')).statusCode).toBe(404);
    for (const url of ['/api/me', '/api/auth/login', '/', '/nope']) {
      const res = await from(scanner, url);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.code).toBe('ip_blocked');
      expectSecurityHeaders(res.headers, 'blocked', { noStore: true });
    }
    expect((await from('198.51.100.67', '/api/me')).statusCode).toBe(401);
    const line = t.logs.find((l) => l.event === 'ip_blocked');
    expect(line).toMatchObject({ level: 40, clientIp: scanner, reason: 'not_found', count: 31 });
    expect(t.app.perimeter.stats.ipBlocks).toBe(1);
    clock.advance(3_600_001);
    expect((await from(scanner, '/api/me')).statusCode).toBe(401);
  });

  it('counts probes for paths that are no dashboard page, with or without an extension', async () => {
    const scanner = '198.51.100.68';
    const probes = ['/wp-admin/', '/.bash_history', '/phpmyadmin', '/admin', '/cgi-bin/test', '/.git/HEAD'];
    for (let i = 0; i < 31; i++) {
      const url = `${probes[i % probes.length]}?n=${i}`;
      const res = await from(scanner, url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
      expectSecurityHeaders(res.headers, url, { noStore: true });
    }
    expect((await from(scanner, '/api/me')).statusCode).toBe(403);
    expect(t.logs.filter((l) => l.event === 'ip_blocked').at(-1)).toMatchObject({ clientIp: scanner, reason: 'not_found', count: 31 });
  });

  it('blocks an address after more than 20 authentication failures', async () => {
    const guesser = '198.51.100.77';
    for (let i = 0; i < 20; i++) expect((await from(guesser, '/api/me')).statusCode).toBe(401);
    expect((await from(guesser, '/api/fleet/summary')).statusCode).toBe(401);
    const res = await from(guesser, '/api/me');
    expect(res.statusCode).toBe(403);
    expect(t.logs.filter((l) => l.event === 'ip_blocked').at(-1)).toMatchObject({ clientIp: guesser, reason: 'auth_failures', count: 21 });
  });

  it('blocks an IPv6 client by its /64', async () => {
    for (let i = 0; i < 31; i++) await from(`2001:db8:abcd:12::${(i + 1).toString(16)}`, `/api/probe/${i}`);
    expect((await from('2001:db8:abcd:12:ffff::9', '/api/me')).statusCode).toBe(403);
    expect((await from('2001:db8:abcd:13::1', '/api/me')).statusCode).toBe(401);
  });
});

for (const backend of kvBackends()) {
  describe.skipIf(!backend.available)(`admins list and lift blocks (${backend.name} Kv)`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    beforeAll(async () => {
      t = await startTestServer({
        env: { ...backend.serverEnv(), ...SECURE_PERIMETER_ENV, FLOTILLA_PERIMETER_TRUSTED_PROXIES: '127.0.0.1', FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '3' },
      });
      admin = await adminClient(t);
    });
    afterAll(async () => t?.close());

    const as = (ip: string) => (path: string) => t.client().get(path, { headers: { 'x-forwarded-for': ip }, cookies: false });

    it('lists a block and lifts it by URL-encoded address', async () => {
      const v4 = as('203.0.113.50');
      const v6 = as('2001:db8:77:1::5');
      for (let i = 0; i < 4; i++) {
        await v4(`/api/missing/${i}`);
        await v6(`/api/missing/${i}`);
      }
      expect((await v4('/api/me')).status).toBe(403);
      expect((await v6('/api/me')).status).toBe(403);

      const list = await admin.get('/api/admin/security/blocks');
      expect(list.status).toBe(200);
      const ips = list.json.items.map((b: { ip: string }) => b.ip);
      expect(ips).toEqual(expect.arrayContaining(['203.0.113.50', '2001:db8:77:1::/64']));
      const entry = list.json.items.find((b: { ip: string }) => b.ip === '203.0.113.50');
      expect(entry).toMatchObject({ reason: 'not_found', count: 4 });
      expect(entry.expiresAt - entry.blockedAt).toBe(3_600_000);
      expect(list.json.next).toBeNull();

      expect((await admin.send('DELETE', `/api/admin/security/blocks/${encodeURIComponent('203.0.113.50')}`)).status).toBe(200);
      expect((await v4('/api/me')).status).toBe(401);
      // An address inside the blocked /64 lifts the /64.
      expect((await admin.send('DELETE', `/api/admin/security/blocks/${encodeURIComponent('2001:db8:77:1::abcd')}`)).status).toBe(200);
      expect((await v6('/api/me')).status).toBe(401);
      expect((await admin.get('/api/admin/security/blocks')).json.items).toEqual([]);
    });

    it('validates the address and says when nothing was blocked', async () => {
      for (const bad of ['not-an-ip', '10.0.0.256', '2001:db8::/48', '0x7f.1', '1.2.3.4%2F24']) {
        const res = await admin.send('DELETE', `/api/admin/security/blocks/${encodeURIComponent(bad)}`);
        expect(res.status, bad).toBe(400);
        expect(res.json.error.code).toBe('invalid_ip');
      }
      const none = await admin.send('DELETE', '/api/admin/security/blocks/192.0.2.1');
      expect(none.status).toBe(404);
      expect(none.json.error.code).toBe('block_not_found');
    });
  });
}

describe.skipIf(!kvBackend('redis').available)('blocks hold across servers sharing one Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const env = { ...redisServerEnv(), ...SECURE_PERIMETER_ENV, FLOTILLA_PERIMETER_TRUSTED_PROXIES: '127.0.0.1', FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '2' };
    a = await startTestServer({ env });
    b = await startTestServer({ env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('an address blocked on one node is refused by the other', async () => {
    const get = (t: TestServer) => t.client().get('/api/me', { headers: { 'x-forwarded-for': '203.0.113.99' }, cookies: false });
    expect((await get(a)).status).toBe(401);
    expect((await get(b)).status).toBe(401);
    expect((await get(a)).status).toBe(401);
    expect((await get(b)).status).toBe(403);
    expect((await get(a)).status).toBe(403);
  });
});
