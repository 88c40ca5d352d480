import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PerimeterEvent } from '../../src/perimeter/stats.js';
import { buildTestApp, expectSecurityHeaders, type TestApp } from './helpers.js';

describe('admin IP allowlist', () => {
  let t: TestApp;
  const events: PerimeterEvent[] = [];
  beforeAll(async () => {
    t = await buildTestApp({ env: { FLOTILLA_PERIMETER_ADMIN_IP_ALLOWLIST: '10.20.0.0/16,192.0.2.7,2001:db8:1::/48' } });
    t.app.perimeter.stats.subscribe((e) => events.push(e));
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  const get = (url: string, remoteAddress: string) => t.app.inject({ url, remoteAddress });

  it('lets listed IPv4 and IPv6 clients reach admin routes (then authentication decides)', async () => {
    for (const ip of ['10.20.3.4', '192.0.2.7', '::ffff:10.20.9.9', '2001:db8:1:ffff::1']) {
      const res = await get('/api/admin/users', ip);
      expect(res.statusCode, ip).toBe(401);
    }
    expect((await get('/admin', '10.20.3.4')).statusCode).not.toBe(403);
  });

  it('answers everyone else 403 on /api/admin/* and the admin pages, however the path is spelled', async () => {
    const before = t.app.perimeter.stats.refused.admin_ip_not_allowed;
    const outsider = ['10.21.0.1', '192.0.2.8', '2001:db8:2::1', '127.0.0.1'];
    const paths = ['/api/admin/users', '/api/admin/security/blocks', '/admin', '/admin/users', '/api/%61dmin/users', '/api/admin%2Fusers', '//api/admin/users', '/ADMIN'];
    for (const ip of outsider) {
      for (const path of paths) {
        const res = await get(path, ip);
        expect(res.statusCode, `${ip} ${path}`).toBe(403);
        expect(res.json().error.code).toBe('ip_not_allowed');
        expectSecurityHeaders(res.headers, `${ip} ${path}`, { noStore: true });
      }
    }
    expect(t.app.perimeter.stats.refused.admin_ip_not_allowed - before).toBe(outsider.length * paths.length);
    expect(events.filter((e) => e.type === 'refused' && e.reason === 'admin_ip_not_allowed').length).toBeGreaterThanOrEqual(outsider.length * paths.length);
    const logged = t.logs.filter((l) => l.event === 'admin_ip_denied');
    expect(logged.length).toBeGreaterThanOrEqual(outsider.length * paths.length);
    expect(logged[0]).toMatchObject({ level: 40, clientIp: '10.21.0.1', path: '/api/admin/users' });
  });

  it('lets a listed address scrape /metrics without the token, and no one else', async () => {
    expect((await get('/metrics', '10.20.3.4')).statusCode).toBe(200);
    const outsider = await get('/metrics', '198.51.100.1');
    expect(outsider.statusCode).toBe(401);
    expect(outsider.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(outsider.body).not.toContain('flotilla_');
  });

  it('leaves other routes alone', async () => {
    expect((await get('/api/me', '198.51.100.1')).statusCode).toBe(401);
    expect((await get('/healthz', '198.51.100.1')).statusCode).toBe(200);
  });

  it('refuses a malformed allowlist at start-up', async () => {
    await expect(buildTestApp({ env: { FLOTILLA_PERIMETER_ADMIN_IP_ALLOWLIST: '10.0.0.0/8,10.1.1' } })).rejects.toThrow(/perimeter.adminIpAllowlist/);
  });
});
