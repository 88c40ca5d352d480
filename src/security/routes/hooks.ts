import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Security } from '../module.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Login, token and refresh failures are counted as failed logins, not as unauthorized access. */
const AUTH_ROUTES = '/api/auth/';
const REPORT_ROUTE = '/api/agent/report';

/**
 * Root hooks (through fastify-plugin, so they see every route): request
 * duration by route pattern, refusals, admin actions, agent addresses and
 * accepted reports. They only observe: nothing here changes an answer, and
 * the work they start runs after the response.
 */
const plugin: FastifyPluginAsync<{ security: Security }> = async (app, { security }) => {
  const { metrics, recorder, detection } = security;

  app.addHook('onResponse', async (request, reply) => {
    // The pattern (`/api/admin/users/:id`), never the raw URL: label values stay bounded.
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.observeRequest(request.method, route, status, reply.elapsedTime / 1000);
    if ((status === 401 || status === 403) && !route.startsWith(AUTH_ROUTES)) metrics.count('flotilla_unauthorized_access_total');

    const policy = request.routeOptions.config?.policy;
    if (policy?.auth === 'user' && policy.role === 'admin' && request.principal && !SAFE_METHODS.has(request.method)) {
      if (status < 400) metrics.count('flotilla_admin_actions_total');
      const params = request.params as Record<string, unknown> | undefined;
      void recorder.record({
        action: 'admin_request',
        actorId: request.principal.userId,
        actorIp: request.ip,
        resourceType: route.split('/')[3] ?? null,
        resourceId: typeof params?.id === 'string' ? params.id : null,
        after: { method: request.method, route, statusCode: status },
        success: status < 400,
        error: status < 400 ? null : `http_${status}`,
      });
    }
    if (request.agent && status < 400) void detection.agentSeen(request.agent.agentId, request.ip);
  });

  // Ingest answers {accepted} after its commit; counting it here keeps the fleet free of metrics code.
  app.addHook('preSerialization', async (request, reply, payload) => {
    if (request.routeOptions.url === REPORT_ROUTE && reply.statusCode === 200) {
      const accepted = (payload as { accepted?: unknown } | null)?.accepted;
      if (typeof accepted === 'number' && accepted > 0) metrics.count('flotilla_reports_ingested_total', {}, accepted);
    }
    return payload;
  });
};

export const securityHooks = fp(plugin, { name: 'flotilla-security-hooks', fastify: '5.x' });
