import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Fleet } from '../module.js';
import {
  AgentPage,
  AgentSchema,
  CreatedEnrollmentToken,
  CreateEnrollmentToken,
  EmptyBody,
  EnrollmentTokenPage,
  IdParam,
  ListQuery,
  Ok,
  RotateQuery,
  RotateResponse,
} from './schemas.js';

/** Actions without input may be posted with no body at all. */
const emptyBodyAllowed = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) request.body = {};
};

/** Enrollment tokens and agents; admins only. */
export const fleetAdminRoutes: FastifyPluginAsync<{ fleet: Fleet }> = async (base, { fleet }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const tokens = { policy: { auth: 'user', role: 'admin', scope: 'agents:admin', resource: 'enrollment_token' } } as const;
  const agents = { policy: { auth: 'user', role: 'admin', scope: 'agents:admin', resource: 'agent' } } as const;
  const action = { body: EmptyBody, params: IdParam };

  app.post('/api/admin/enrollment-tokens', { schema: { body: CreateEnrollmentToken, response: { 201: CreatedEnrollmentToken } }, config: tokens }, async (request, reply) => {
    reply.code(201);
    return fleet.enrollment.createToken(request.body, request.principal?.userId ?? null);
  });

  app.get('/api/admin/enrollment-tokens', { schema: { querystring: ListQuery, response: { 200: EnrollmentTokenPage } }, config: tokens }, (request) =>
    fleet.enrollment.listTokens(request.query),
  );

  app.delete('/api/admin/enrollment-tokens/:id', { schema: { params: IdParam, response: { 200: Ok } }, config: tokens }, async (request) => {
    await fleet.enrollment.revokeToken(request.params.id);
    return { ok: true as const };
  });

  app.get('/api/admin/agents', { schema: { querystring: ListQuery, response: { 200: AgentPage } }, config: agents }, (request) => fleet.agents.list(request.query));

  app.post('/api/admin/agents/:id/revoke', { schema: { ...action, response: { 200: AgentSchema } }, config: agents, preValidation: emptyBodyAllowed }, (request) =>
    fleet.agents.revoke(request.params.id),
  );

  app.post(
    '/api/admin/agents/:id/rotate',
    { schema: { ...action, querystring: RotateQuery, response: { 200: RotateResponse } }, config: agents, preValidation: emptyBodyAllowed },
    (request) => fleet.agents.rotate(request.params.id, { newApiKey: request.query.apiKey === true }),
  );

  app.post('/api/admin/agents/:id/decommission', { schema: { ...action, response: { 200: Ok } }, config: agents, preValidation: emptyBodyAllowed }, async (request) => {
    await fleet.agents.decommission(request.params.id);
    return { ok: true as const };
  });
};
