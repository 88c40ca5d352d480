import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, expectSecurityHeaders, type TestApp } from './helpers.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => h.startsWith('access-control-'));

describe('CORS off by default', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  it('sends no Access-Control header to any origin, and answers no preflight', async () => {
    const get = await t.app.inject({ url: '/healthz', headers: { origin: APP } });
    expect(corsHeaders(get.headers)).toEqual([]);
    const preflight = await t.app.inject({ method: 'OPTIONS', url: '/api/auth/login', headers: { origin: APP, 'access-control-request-method': 'POST' } });
    expect(preflight.statusCode).toBe(404);
    expect(corsHeaders(preflight.headers)).toEqual([]);
  });
});

describe('CORS with allowlisted origins', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { FLOTILLA_PERIMETER_CORS_ALLOWED_ORIGINS: `${APP},https://other.example.com:8443`, FLOTILLA_PERIMETER_CORS_ALLOWED_METHODS: 'GET,POST' } });
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  it('lets an allowed origin read responses with credentials, and varies on Origin', async () => {
    const res = await t.app.inject({ url: '/api/me', headers: { origin: APP } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers']).toContain('retry-after');
    expect(String(res.headers.vary)).toMatch(/Origin/);
    expectSecurityHeaders(res.headers, 'CORS 401', { noStore: true });
  });

  it('gives a disallowed origin no CORS header at all', async () => {
    for (const origin of [EVIL, 'null', `${APP}.evil.net`, 'http://app.example.com', 'https://other.example.com']) {
      const res = await t.app.inject({ url: '/healthz', headers: { origin } });
      expect(corsHeaders(res.headers), origin).toEqual([]);
      expect(String(res.headers.vary)).toMatch(/Origin/);
    }
  });

  it('answers an allowed preflight 204 with the allow lists', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/admin/users',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'Content-Type, X-CSRF-Token' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(res.headers['access-control-allow-headers']).toBe('content-type, x-csrf-token, authorization');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(String(res.headers.vary)).toMatch(/Origin/);
    expectSecurityHeaders(res.headers, 'preflight');
  });

  it('answers a preflight from a disallowed origin, or for a method or header not allowed, without CORS headers', async () => {
    const cases = [
      { origin: EVIL, 'access-control-request-method': 'POST' },
      { origin: APP, 'access-control-request-method': 'DELETE' },
      { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-evil' },
    ];
    for (const headers of cases) {
      const res = await t.app.inject({ method: 'OPTIONS', url: '/api/admin/users', headers });
      expect(res.statusCode).toBe(204);
      expect(corsHeaders(res.headers), JSON.stringify(headers)).toEqual([]);
    }
  });

  it('refuses to start with a wildcard or an origin that has a path', async () => {
    for (const bad of ['*', 'https://app.example.com/path', 'app.example.com']) {
      await expect(buildTestApp({ env: { FLOTILLA_PERIMETER_CORS_ALLOWED_ORIGINS: bad } })).rejects.toThrow(/perimeter.cors.allowedOrigins/);
    }
  });
});
