import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { SecureContextOptions } from 'node:tls';
import { Type } from 'typebox';
import { adminUserRoutes } from '../identity/routes/admin-users.js';
import { authRoutes } from '../identity/routes/auth.js';
import { meRoutes } from '../identity/routes/me.js';
import { newId } from '../lib/ids.js';
import { handleError } from './errors.js';
import { healthRoutes } from './health.js';
import { installRoutePolicy, type RouteEntry } from './policy.js';
import type { Services } from './services.js';
import { validatorCompiler } from './validation.js';

export const API_BODY_LIMIT = 1024 * 1024;

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
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: 'no such route' } });
  });

  await app.register(cookie);
  const routes = installRoutePolicy(app, { sessions: services.identity.sessions, csrfKey: services.identity.csrfKey });
  app.decorate('routeCatalog', routes);
  await app.register(swagger, { openapi: { info: { title: 'Flotilla', version: '0.1.0' } } });

  const { identity, clock } = services;
  await app.register(healthRoutes, { services });
  await app.register(authRoutes, { identity, clock });
  await app.register(meRoutes, { identity, clock });
  await app.register(adminUserRoutes, { identity });

  app.get(
    '/api/openapi.json',
    { schema: { hide: true, response: { 200: Type.Object({}, { additionalProperties: true }) } }, config: { policy: { auth: 'none' } } },
    async () => app.swagger(),
  );
  return app;
}
