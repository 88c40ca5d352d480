import type { FastifyPluginAsync } from 'fastify';
import type { SecurityMetrics } from '../metrics/metrics.js';
import { TextBody } from './schemas.js';

export interface MetricsRouteOptions {
  metrics: SecurityMetrics;
}

/**
 * GET /metrics in Prometheus text format. `auth: 'metrics'` (the bearer
 * `metrics.token` or the admin IP allowlist) is enforced with every other
 * policy, before this handler runs; it only renders.
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, opts) => {
  app.get('/metrics', { schema: { response: { 200: TextBody } }, config: { policy: { auth: 'metrics' } } }, async (_request, reply) => {
    reply.type(opts.metrics.contentType);
    return opts.metrics.text();
  });
};
