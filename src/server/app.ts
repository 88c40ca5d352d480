import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { SecureContextOptions } from 'node:tls';
import { Type } from 'typebox';
import { commandAgentRoutes } from '../commands/routes/agent.js';
import { commandRoutes } from '../commands/routes/commands.js';
import { fleetAdminRoutes } from '../fleet/routes/admin.js';
import { agentRoutes } from '../fleet/routes/agent.js';
import { fleetRoutes } from '../fleet/routes/fleet.js';
import { adminUserRoutes } from '../identity/routes/admin-users.js';
import { authRoutes } from '../identity/routes/auth.js';
import { meRoutes } from '../identity/routes/me.js';
import { mfaRoutes } from '../identity/routes/mfa.js';
import { reauthRoutes } from '../identity/routes/reauth.js';
import { newId } from '../lib/ids.js';
import { answerFrameworkError, perimeterPlugin } from '../perimeter/plugin.js';
import { perimeterRoutes } from '../perimeter/routes.js';
import { auditRoutes } from '../security/routes/audit.js';
import { securityEventRoutes } from '../security/routes/events.js';
import { securityHooks } from '../security/routes/hooks.js';
import { metricsRoutes } from '../security/routes/metrics.js';
import { agentChannelRoute, installAgentChannel } from './agent-channel.js';
import { installBodyLimit } from './body-limit.js';
import { handleError } from './errors.js';
import { healthRoutes } from './health.js';
import { installRoutePolicy, type RouteEntry } from './policy.js';
import type { Services } from './services.js';
import { validatorCompiler } from './validation.js';
import { webRoutes } from './web.js';

export const API_BODY_LIMIT = 1024 * 1024;

/** One debug line per answered request; installed only when debug is on, so the hot path pays nothing. */
function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: Math.round(reply.elapsedTime * 10) / 10 }, 'request completed');
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every registered route with its declared policy (for tests, docs and the posture page). */
    routeCatalog: RouteEntry[];
  }
}

/**
 * Assembles the HTTP application from the services. Domains bring their own
 * routes; this file only wires them, in order: parsers, policy, routes.
 */
export async function buildApp(services: Services, opts: { https?: SecureContextOptions } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.log,
    bodyLimit: API_BODY_LIMIT,
    genReqId: () => newId(),
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // Fastify's two info lines per request would bury start-up, enrollments and security events.
    logController: new LogController({ disableRequestLogging: true }),
    // A URL that does not decode never reaches a hook: answer it with our body and headers.
    frameworkErrors: answerFrameworkError(services.perimeter),
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  if (services.log.isLevelEnabled('debug')) logRequests(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: 'no such route' } });
  });

  // First, so its hooks run before every other and see every route.
  await app.register(perimeterPlugin, { perimeter: services.perimeter });
  installBodyLimit(app);
  await app.register(cookie);
  const routes = installRoutePolicy(app, {
    sessions: services.identity.sessions,
    csrfKey: services.identity.csrfKey,
    agents: services.fleet.agents,
    requireMfaForAdmins: services.identity.requireMfaForAdmins,
    decoys: services.identity.honey,
    metrics: { token: services.config.metrics.token, ipAllowed: services.perimeter.adminAllowed },
  });
  app.decorate('routeCatalog', routes);
  // Before any route, so its root hooks observe every one (metrics, admin actions, agent addresses).
  await app.register(securityHooks, { security: services.security });
  await app.register(swagger, { openapi: { info: { title: 'Flotilla', version: '0.1.0' } } });

  const { identity, clock, fleet } = services;
  await app.register(healthRoutes, { services });
  await app.register(authRoutes, { identity, clock });
  await app.register(meRoutes, { identity });
  await app.register(mfaRoutes, { identity });
  await app.register(reauthRoutes, { identity });
  await app.register(adminUserRoutes, { identity });
  await app.register(agentRoutes, { fleet });
  await app.register(agentChannelRoute);
  installAgentChannel(app, { perimeter: services.perimeter, agents: fleet.agents, channels: fleet.channels, heartbeatMs: services.config.fleet.channelHeartbeatSeconds * 1000 });
  await app.register(fleetAdminRoutes, { fleet });
  await app.register(fleetRoutes, { fleet });
  await app.register(commandAgentRoutes, { commands: services.commands });
  await app.register(commandRoutes, { commands: services.commands });
  await app.register(perimeterRoutes, { perimeter: services.perimeter });
  const { security, config } = services;
  await app.register(auditRoutes, { audit: security.audit });
  await app.register(securityEventRoutes, { audit: security.audit });
  await app.register(metricsRoutes, { metrics: security.metrics });
  // The dashboard: /assets/*, and index.html for its client-side routes; any other path is a 404.
  await app.register(webRoutes, { sessionTimeoutSeconds: config.security.sessionTimeout });
  app.addHook('onReady', async () => security.start());
  app.addHook('onClose', () => security.stop());
  // Background jobs and live events run with the server, never with a CLI command.
  app.addHook('onReady', () => fleet.start());
  app.addHook('onReady', () => services.commands.start());
  // Open event streams would keep the server from closing.
  app.addHook('preClose', (done) => {
    fleet.events.closeStreams();
    identity.honey.streams.closeAll();
    done();
  });
  app.addHook('onClose', () => fleet.stop());

  app.get(
    '/api/openapi.json',
    { schema: { hide: true, response: { 200: Type.Object({}, { additionalProperties: true }) } }, config: { policy: { auth: 'none' } } },
    async () => app.swagger(),
  );
  return app;
}
