/**
 * How the server serves the dashboard: cache headers, the SPA fallback, JSON
 * 404s for the API, the page shown without a build, the enrollment pin, the
 * bundle budget, and source rules that keep the strict CSP and text-only
 * rendering true.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bundleBudget, firstPageChunks } from '../../scripts/bundle-size.js';
import { DASHBOARD_ROUTES } from '../../src/lib/dashboard-routes.js';
import { handleError } from '../../src/server/errors.js';
import { installRoutePolicy } from '../../src/server/policy.js';
import { webRoutes } from '../../src/server/web.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { WEB_DIST } from '../harness/web-build.js';
import { expectSecurityHeaders } from '../perimeter/helpers.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

describe('serving the built dashboard', () => {
  let t: TestServer;
  let admin: HttpsClient;

  beforeAll(async () => {
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    t = await startTestServer();
    admin = await adminClient(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves index.html uncached, with a strict CSP and no inline script or style', async () => {
    const res = await t.client().get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(res.text).toContain('<div id="root"></div>');
    expect(res.text).not.toMatch(/style=/i);
    // Every script is an external file under /assets/.
    for (const tag of res.text.match(/<script\b[^>]*>/g) ?? []) expect(tag).toMatch(/src="\/assets\/[^"]+\.js"/);
    expect(res.text).not.toMatch(/<script\b[^>]*>[^<\s]/);
    expect(res.text).not.toMatch(/<style\b/i);
  });

  it('serves hashed assets for a year, immutable, and a missing one as the JSON 404', async () => {
    const index = (await t.client().get('/')).text;
    const paths = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(paths.some((p) => p.endsWith('.js'))).toBe(true);
    expect(paths.some((p) => p.endsWith('.css'))).toBe(true);
    for (const path of paths) {
      const res = await t.client().get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers['cache-control'], path).toBe(IMMUTABLE);
    }
    const js = paths.find((p) => p.endsWith('.js')) as string;
    expect((await t.client().get(js)).headers['content-type']).toMatch(/javascript/);

    const missing = await t.client().get('/assets/nope-123.js');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    expect(missing.headers['cache-control']).toBe('no-store');
    for (const probe of ['/assets/../package.json', '/assets/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/assets/.env']) {
      const res = await t.client().get(probe);
      expect(res.status, probe).toBeGreaterThanOrEqual(400);
      expect(res.text, probe).not.toContain('"name": "flotilla"');
    }
  });

  it('answers the dashboard routes with index.html and every other path with the JSON 404', async () => {
    const index = (await t.client().get('/')).text;
    // Every route in the table the router uses, with an id where it takes one.
    const pages = DASHBOARD_ROUTES.map((r) => r.path.replace(':id', '01890000-0000-7000-8000-000000000000'));
    for (const path of [...pages, '/admin/users/', '/account?tab=passkeys', '/machines/a%20b']) {
      const res = await t.client().get(path);
      expect(res.status, path).toBe(200);
      expect(res.text, path).toBe(index);
      expect(res.headers['cache-control'], path).toBe('no-store');
    }
    const unknown = ['/.bash_history', '/wp-admin/', '/wp-admin', '/no/such/page?x=1', '/machines', '/machines/a/b', '/commands/a/b', '/admin', '/admin/users/x', '//account', '/accounts'];
    for (const path of [...unknown, '/api/nope', '/api', '/api/fleet/nope/deeper', '/favicon.ico', '/wp-login.php', '/.env']) {
      const res = await t.client().get(path);
      expect(res.status, path).toBe(404);
      expect(res.json, path).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
      expectSecurityHeaders(res.headers, path, { noStore: true });
    }
    // Only GET serves pages.
    expect((await t.client().request('POST', '/machines', { body: {} })).status).toBe(404);
    expect((await t.client().request('POST', '/account', { body: {} })).status).toBe(404);
  });

  it('tells the dashboard the enrollment pin and the idle timeout', async () => {
    const res = await admin.get('/api/dashboard/settings');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ serverPin: t.server.certificate.fingerprint, sessionTimeoutSeconds: 3600 });
    expect((await t.client().get('/api/dashboard/settings')).status).toBe(401);
  });
});

describe('without a build', () => {
  it('serves a page saying to build, and no assets', async () => {
    const app = Fastify();
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((_request, reply) => {
      reply.code(404).send({ error: { code: 'not_found', message: 'no such route' } });
    });
    installRoutePolicy(app, { sessions: {} as never, csrfKey: new Uint8Array(32) });
    await app.register(webRoutes, { root: '/nonexistent/flotilla-web', sessionTimeoutSeconds: 3600 });
    for (const url of ['/', '/machines/x']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toContain('npm run build');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    }
    expect((await app.inject({ method: 'GET', url: '/assets/index.js' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/wp-admin/' })).statusCode).toBe(404);
    await app.close();
  });
});

describe('bundle budget', () => {
  const chunk = (code: string, imports: string[] = [], isEntry = false) => ({ type: 'chunk', code, imports, isEntry });

  it('counts the entry and its static imports, not lazily loaded pages', () => {
    const bundle = { 'index.js': chunk('a', ['vendor.js'], true), 'vendor.js': chunk('b'), 'lazy.js': chunk('c'), 'style.css': { type: 'asset' } };
    expect(firstPageChunks(bundle).sort()).toEqual(['index.js', 'vendor.js']);
  });

  it('fails the build above the limit and prints the size', () => {
    const lines: string[] = [];
    const plugin = bundleBudget({ limitBytes: 100, print: (line) => lines.push(line) });
    const random = Array.from({ length: 4000 }, (_, i) => ((i * 7919) % 65_521).toString(36)).join('');
    const errors: string[] = [];
    const context = { error: (message: string) => errors.push(message) };
    const generate = plugin.generateBundle as unknown as (this: typeof context, options: unknown, bundle: unknown) => void;
    generate.call(context, {}, { 'index.js': chunk(random, [], true) });
    expect(lines[0]).toMatch(/^first-page JavaScript: [\d.]+ KB gzipped in 1 file\(s\) \(budget 0\.1 KB\)$/);
    expect(errors[0]).toMatch(/over the 0\.1 KB budget/);
  });

  it('keeps the real first page under 250 KB gzipped', async () => {
    const { gzipSync } = await import('node:zlib');
    const index = readFileSync(join(WEB_DIST, 'index.html'), 'utf8');
    const entry = /src="\/assets\/([^"]+\.js)"/.exec(index)?.[1] as string;
    const size = gzipSync(readFileSync(join(WEB_DIST, 'assets', entry))).length;
    expect(size).toBeLessThan(250 * 1024);
  });
});

describe('dashboard sources', () => {
  const root = fileURLToPath(new URL('../../src/web/', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : [path];
    });
  const sources = files(root).filter((f) => /\.(tsx?|html)$/.test(f));

  it('never renders HTML from strings, and never uses inline styles or inline scripts', () => {
    expect(sources.length).toBeGreaterThan(20);
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/dangerouslySetInnerHTML|\.innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/);
      expect(text, file).not.toMatch(/\sstyle=\{|\sstyle="/);
      if (file.endsWith('.html')) expect(text, file).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style/);
    }
  });
});
