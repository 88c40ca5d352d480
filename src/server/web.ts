import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { matchDashboardPath } from '../lib/dashboard-routes.js';
import { dashboardSettingsRoutes } from './dashboard-settings.js';

/** `<repo>/dist/web`, from src/server (tests, tsx) and dist/server (built) alike. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

/** Hashed file names change with their content, so a browser may keep them for good. */
const IMMUTABLE_MAX_AGE_MS = 31_536_000_000;

/**
 * The CSP the dashboard document needs. The perimeter sets its own strict policy
 * on every response and wins when present; this only makes sure the document
 * is never served without one. No 'unsafe-inline' or 'unsafe-eval' anywhere.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Flotilla</title></head>
<body><h1>Flotilla</h1><p>The dashboard is not built &mdash; run <code>npm run build</code> and restart the server. The API is available under <code>/api/</code>.</p></body></html>
`;

const page = { hide: true, response: { 200: Type.String({ description: 'text/html or a static asset' }) } };
const open = { policy: { auth: 'none' } } as const;


function documentHeaders(reply: FastifyReply): FastifyReply {
  if (reply.getHeader('content-security-policy') === undefined) reply.header('content-security-policy', DASHBOARD_CSP);
  return reply.header('cache-control', 'no-store');
}

/**
 * Serves the built dashboard (dist/web): hashed files under /assets/ cached for
 * a year, and index.html, never cached, for the dashboard's own client routes
 * (lib/dashboard-routes), so they survive a reload. Every other path is the
 * JSON 404. Without a build it serves a page saying so.
 */
export const webRoutes: FastifyPluginAsync<{ root?: string; sessionTimeoutSeconds: number }> = async (app, opts) => {
  const root = opts.root ?? DEFAULT_WEB_ROOT;
  await app.register(dashboardSettingsRoutes, { sessionTimeoutSeconds: opts.sessionTimeoutSeconds });
  const built = existsSync(join(root, 'index.html'));
  // Loaded only when there is something to serve: CLI commands that never start a server skip it.
  if (built) await app.register((await import('@fastify/static')).default, { root, serve: false, decorateReply: true });

  const sendIndex = (reply: FastifyReply) => {
    documentHeaders(reply);
    if (!built) return reply.type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    return reply.sendFile('index.html', root, { cacheControl: false, etag: false, lastModified: false });
  };

  app.get('/', { schema: page, config: open }, (_request, reply) => sendIndex(reply));

  app.get('/assets/*', { schema: page, config: open }, (request: FastifyRequest<{ Params: { '*': string } }>, reply) => {
    if (!built) return reply.callNotFound();
    return reply.sendFile(request.params['*'], join(root, 'assets'), { cacheControl: true, maxAge: IMMUTABLE_MAX_AGE_MS, immutable: true });
  });

  // The same matcher the dashboard's router uses, on the raw path as the browser sees it.
  app.get('/*', { schema: page, config: open }, (request, reply) => {
    if (!matchDashboardPath(request.url.split('?', 1)[0] ?? '')) return reply.callNotFound();
    return sendIndex(reply);
  });
};
