import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Security } from '../module.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Root hooks (through fastify-plugin, so they see every route): request
 * duration by route pattern, refusals, admin actions and agent addresses,
 * each judged by the route's declared policy, never by its URL. They only
 * observe: nothing here changes an answer, and the work they start runs
 * after the response. Accepted reports are counted by the fleet itself
 * (createFleet's onReportsAccepted).
 */
const plugin: FastifyPluginAsync<{ security: Security }> = async (app, { security }) => {
  const { metrics, recorder, detection } = security;

  app.addHook('onResponse', async (request, reply) => {
    // The pattern (`/api/admin/users/:id`), never the raw URL: label values stay bounded.
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const policy = request.routeOptions.config?.policy;
    metrics.observeRequest(request.method, route, status, reply.elapsedTime / 1000);
    // Open routes are the sign-in steps: their refusals are failed logins, counted as such by identity's events.
    if ((status === 401 || status === 403) && policy?.auth !== 'none') metrics.count('flotilla_unauthorized_access_total');

    if (policy?.auth === 'user' && policy.role === 'admin' && request.principal && !SAFE_METHODS.has(request.method)) {
      if (status < 400) metrics.count('flotilla_admin_actions_total');
      const params = request.params as Record<string, unknown> | undefined;
      void recorder.record({
        action: 'admin_request',
        actorId: request.principal.userId,
        actorIp: request.ip,
        resourceType: policy.resource ?? null,
        resourceId: typeof params?.id === 'string' ? params.id : null,
        after: { method: request.method, route, statusCode: status },
        success: status < 400,
        error: status < 400 ? null : `http_${status}`,
      });
    }
    if (request.agent && status < 400) void detection.agentSeen(request.agent.agentId, request.ip);
  });
};

export const securityHooks = fp(plugin, { name: 'flotilla-security-hooks', fastify: '5.x' });
