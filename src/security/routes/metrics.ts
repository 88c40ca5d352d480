import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { securityError } from '../errors.js';
import type { SecurityMetrics } from '../metrics/metrics.js';
import { TextBody } from './schemas.js';

export interface MetricsRouteOptions {
  metrics: SecurityMetrics;
  /** `metrics.token`; without it (and without an allowlist) /metrics answers 401 to everyone. */
  token?: string;
  /** The perimeter's admin IP allowlist, when configured: a listed scraper needs no token. */
  ipAllowed?: ((ip: string) => boolean) | null;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Compares digests, so the check takes the same time whatever the token's length or content. */
function tokenMatches(request: FastifyRequest, expected: Buffer | null): boolean {
  if (!expected) return false;
  const header = request.headers.authorization;
  const presented = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  return timingSafeEqual(digest(presented), expected);
}

/** GET /metrics in Prometheus text format, behind a bearer token or the admin allowlist. */
export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, opts) => {
  const expected = opts.token ? digest(opts.token) : null;
  app.get('/metrics', { schema: { response: { 200: TextBody } }, config: { policy: { auth: 'none' } } }, async (request, reply) => {
    if (!tokenMatches(request, expected) && !opts.ipAllowed?.(request.ip)) {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw securityError('unauthorized');
    }
    reply.type(opts.metrics.contentType);
    return opts.metrics.text();
  });
};
