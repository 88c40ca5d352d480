import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientIpResolver } from '../../src/perimeter/client-ip.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { buildTestApp, type TestApp } from './helpers.js';

describe('client IP resolution', () => {
  const xff = createClientIpResolver({ trustedProxies: ['10.0.0.0/8', 'fd00::/8'], header: 'x-forwarded-for' });

  it('ignores every proxy header from a peer that is not a trusted proxy', () => {
    const headers = { 'x-forwarded-for': '1.1.1.1', 'x-real-ip': '2.2.2.2', forwarded: 'for=3.3.3.3' };
    expect(xff('198.51.100.7', headers)).toBe('198.51.100.7');
    expect(xff('::ffff:198.51.100.7', headers)).toBe('198.51.100.7');
  });

  it('reads X-Forwarded-For from the right, past trusted proxies only', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('203.0.113.9');
    // The client wrote the leftmost entry itself: it is never believed.
    expect(xff('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' })).toBe('203.0.113.9');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.2.3.4, 10.9.9.9' })).toBe('203.0.113.9');
    expect(xff('10.0.0.1', { 'x-forwarded-for': ['6.6.6.6', '203.0.113.9, 10.2.3.4'] })).toBe('203.0.113.9');
    expect(xff('fd00::1', { 'x-forwarded-for': '2001:db8::5' })).toBe('2001:db8::5');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '::ffff:203.0.113.9' })).toBe('203.0.113.9');
    // Only trusted hops: the leftmost is the client. Garbage: stop at the last trusted hop.
    expect(xff('10.0.0.1', { 'x-forwarded-for': '10.1.1.1, 10.2.2.2' })).toBe('10.1.1.1');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.9, garbage' })).toBe('10.0.0.1');
    expect(xff('10.0.0.1', {})).toBe('10.0.0.1');
    // X-Real-IP and Forwarded are not the configured header.
    expect(xff('10.0.0.1', { 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9' })).toBe('10.0.0.1');
  });

  it('reads X-Real-IP or Forwarded only when configured', () => {
    const real = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'x-real-ip' });
    expect(real('10.0.0.1', { 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '6.6.6.6' })).toBe('203.0.113.9');
    expect(real('198.51.100.1', { 'x-real-ip': '203.0.113.9' })).toBe('198.51.100.1');
    const fwd = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'forwarded' });
    expect(fwd('10.0.0.1', { forwarded: 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https' })).toBe('2001:db8::7');
    expect(fwd('10.0.0.1', { forwarded: 'for=203.0.113.9:5555;by=10.0.0.1, for=10.3.3.3' })).toBe('203.0.113.9');
    expect(fwd('10.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('10.0.0.1');
  });

  it('refuses a malformed proxy list at start-up', () => {
    for (const bad of ['10.0.0.0/33', 'not-an-ip', '0x7f.1', '10.0.0.0/8x']) {
      expect(() => createClientIpResolver({ trustedProxies: [bad], header: 'x-forwarded-for' }), bad).toThrow(/perimeter.trustedProxies/);
    }
  });
});

describe('request.ip is the resolved client everywhere', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { FLOTILLA_PERIMETER_TRUSTED_PROXIES: '10.0.0.0/8', FLOTILLA_PERIMETER_ADMIN_IP_ALLOWLIST: '203.0.113.0/24' } });
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  it('a spoofed X-Forwarded-For from an untrusted peer changes nothing', async () => {
    const spoofed = await t.app.inject({ url: '/api/admin/users', remoteAddress: '198.51.100.20', headers: { 'x-forwarded-for': '203.0.113.5' } });
    expect(spoofed.statusCode).toBe(403);
    expect(spoofed.json().error.code).toBe('ip_not_allowed');
    const viaProxy = await t.app.inject({ url: '/api/admin/users', remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '203.0.113.5' } });
    expect(viaProxy.statusCode).toBe(401);
    // The attacker prepends an allowed address; the proxy appends the real one.
    const prepended = await t.app.inject({ url: '/api/admin/users', remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '203.0.113.5, 198.51.100.20' } });
    expect(prepended.statusCode).toBe(403);
    const realIp = await t.app.inject({ url: '/api/admin/users', remoteAddress: '10.0.0.2', headers: { 'x-real-ip': '203.0.113.5' } });
    expect(realIp.statusCode).toBe(403);
  });
});

describe('identity records the resolved client IP', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_PERIMETER_TRUSTED_PROXIES: '127.0.0.1' } });
  });
  afterAll(async () => t?.close());

  it('stores the X-Forwarded-For client of a trusted proxy on the session', async () => {
    await adminClient(t);
    const tokens = (await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD }, { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.77' } })).json;
    const sessions = await t.client().get('/api/me/sessions', { bearer: tokens.accessToken, cookies: false });
    const current = sessions.json.items.find((s: { current: boolean }) => s.current);
    expect(current.ip).toBe('203.0.113.77');
  });
});
