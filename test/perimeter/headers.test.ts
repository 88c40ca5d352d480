import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { buildTestApp, expectSecurityHeaders, SECURE_PERIMETER_ENV, type TestApp } from './helpers.js';

function plainRequest(port: number, method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: 'localhost' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{"a":1}' : undefined);
  });
}

describe('security headers over HTTPS on every kind of answer', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { ...SECURE_PERIMETER_ENV, FLOTILLA_SERVER_HTTP_PORT: '0' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sets every header on 200, 401, 403, 404, 413 and 429', async () => {
    const admin = await adminClient(t);
    const answers = {
      'JSON 200': await admin.get('/api/me'),
      'admin list 200': await admin.get('/api/admin/users'),
      'health 200': await admin.get('/healthz'),
      '401': await t.client().get('/api/me'),
      // A cookie-authenticated change without the CSRF header.
      '403': await admin.request('POST', '/api/admin/users', { body: {} }),
      '404': await admin.get('/api/nope'),
      '413': await t.client().post('/api/auth/login', { username: 'x'.repeat(1_100_000), password: 'y' }),
    };
    expect(answers['JSON 200'].status).toBe(200);
    expect(answers['admin list 200'].status).toBe(200);
    expect(answers['401'].status).toBe(401);
    expect(answers['403'].json.error.code).toBe('csrf_failed');
    expect(answers['404'].status).toBe(404);
    expect(answers['413'].status).toBe(413);
    for (const [what, reply] of Object.entries(answers)) expectSecurityHeaders(reply.headers, what, { noStore: true });

    let limited = await t.client().post('/api/auth/login', { username: 'nobody-a', password: 'Wrong-Password-1!' });
    for (let i = 0; i < 6 && limited.status !== 429; i++) limited = await t.client().post('/api/auth/login', { username: `nobody-${i}`, password: 'Wrong-Password-1!' });
    expect(limited.status).toBe(429);
    expectSecurityHeaders(limited.headers, '429', { noStore: true });
  });

  it('the plain-HTTP port only redirects (308, same path and query) for every method and path', async () => {
    const port = t.server.httpPort ?? 0;
    for (const [method, path] of [
      ['GET', '/api/me?x=1&y=%20'],
      ['POST', '/api/auth/login?next=/a'],
      ['GET', '/healthz'],
      ['DELETE', '/api/admin/users/1'],
    ] as const) {
      const res = await plainRequest(port, method, path);
      expect(res.status, `${method} ${path}`).toBe(308);
      expect(res.headers.location).toBe(`https://localhost:${t.server.port}${path}`);
      expect(res.body).toBe('');
      expect(res.headers['cache-control']).toBe('no-store');
      // RFC 6797 §7.2: HSTS over plain HTTP is ignored and must not be sent; the HTTPS answers carry it.
      expect(res.headers['strict-transport-security']).toBeUndefined();
    }
  });
});

describe('security headers on answers only a test route can produce', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { FLOTILLA_PERIMETER_HSTS_PRELOAD: 'true' } });
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-static-'));
    writeFileSync(join(dir, 'app.css'), 'body { color: black; }\n');
    const open = { policy: { auth: 'none' } } as const;
    // Registered before ready(), like any route: the crash route exists only in this test's app.
    t.app.get('/test/crash', { config: open }, async () => {
      throw new Error('deliberate failure with a secret detail');
    });
    t.app.get('/test/moved', { config: open }, async (_request, reply) => reply.redirect('/healthz', 301));
    t.app.get('/test/not-modified', { config: open }, async (_request, reply) => reply.code(304).send());
    t.app.get('/test/page', { config: open }, async (_request, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><title>x</title>'));
    t.app.get('/assets/app.css', { config: open }, async (_request, reply) =>
      reply.type('text/css').header('cache-control', 'public, max-age=31536000, immutable').send(createReadStream(join(dir, 'app.css'))),
    );
    await t.app.ready();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sets every header (HSTS with preload when configured) on 500, 301, 304, HTML, static files and bad URLs', async () => {
    const crash = await t.app.inject({ url: '/test/crash' });
    expect(crash.statusCode).toBe(500);
    expect(crash.json()).toEqual({ error: { code: 'internal', message: 'internal error' } });
    const cases = {
      '500': crash,
      '301': await t.app.inject({ url: '/test/moved' }),
      '304': await t.app.inject({ url: '/test/not-modified' }),
      HTML: await t.app.inject({ url: '/test/page' }),
      static: await t.app.inject({ url: '/assets/app.css' }),
      'bad URL': await t.app.inject({ url: '/%zz' }),
      '404 page': await t.app.inject({ url: '/no/such/page' }),
    };
    expect(cases['301'].statusCode).toBe(301);
    expect(cases['304'].statusCode).toBe(304);
    expect(cases['bad URL'].statusCode).toBe(400);
    expect(cases.static.body).toContain('color: black');
    for (const [what, res] of Object.entries(cases)) expectSecurityHeaders(res.headers, what, { preload: true });
    // API answers and errors are never cached; a static file keeps the caching its route chose.
    for (const what of ['500', 'bad URL', '404 page'] as const) expect(cases[what].headers['cache-control'], what).toBe('no-store');
    expect(cases.static.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });
});

describe('perimeter defaults', () => {
  it('are the secure values when nothing is configured', async () => {
    const { perimeter } = await loadConfig({ env: {} });
    expect(perimeter.hstsPreload).toBe(false);
    expect(perimeter.cors.allowedOrigins).toEqual([]);
    expect(perimeter.trustedProxies).toEqual([]);
    expect(perimeter.clientIpHeader).toBe('x-forwarded-for');
    expect(perimeter.rateLimit.ip).toEqual({ limit: 100, windowSeconds: 60 });
    expect(perimeter.rateLimit.user).toEqual({ limit: 1000, windowSeconds: 3600 });
    expect(perimeter.rateLimit.login).toEqual({ limit: 5, windowSeconds: 300 });
    expect(perimeter.scanner).toEqual({ notFoundLimit: 30, authFailureLimit: 20, windowSeconds: 600, blockSeconds: 3600 });
    expect(perimeter.adminListener).toBeUndefined();
  });

  it('reads list settings from comma-separated variables', async () => {
    const { perimeter } = await loadConfig({ env: { FLOTILLA_PERIMETER_TRUSTED_PROXIES: '10.0.0.0/8,fd00::/8', FLOTILLA_PERIMETER_GEO_BLOCKING_COUNTRIES: 'CN,RU' } });
    expect(perimeter.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(perimeter.geoBlocking.countries).toEqual(['CN', 'RU']);
  });
});
