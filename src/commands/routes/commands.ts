import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { commandError } from '../errors.js';
import type { Commands } from '../module.js';
import type { Actor } from '../view.js';
import {
  CommandDetailSchema,
  CommandPage,
  CommandRequestSchema,
  DecisionBody,
  EmptyBody,
  IdParam,
  ListQuery,
  MachineCommandPage,
  NewCommandBody,
  PageQuery,
  ResultList,
} from './schemas.js';

/** Actions without input may be posted with no body at all. */
const emptyBodyAllowed = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) request.body = {};
};

function actorOf(request: FastifyRequest): Actor {
  const principal = request.principal;
  // The policy has authenticated the request; a missing principal is a wiring fault, refused rather than served.
  if (!principal) throw commandError('unauthorized');
  return { userId: principal.userId, role: principal.role, ip: request.ip ?? null };
}

/** Remote commands as people drive them: request, decide, cancel, follow. */
export const commandRoutes: FastifyPluginAsync<{ commands: Commands }> = async (base, { commands }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = { policy: { auth: 'user', role: 'viewer', scope: 'commands:read' } } as const;
  const reader = { policy: { auth: 'user', role: 'operator', scope: 'commands:read' } } as const;
  const operator = { policy: { auth: 'user', role: 'operator', scope: 'commands:run' } } as const;
  // A decision is the second person of the two-person rule: the session must have proved its user just now.
  const approver = { policy: { auth: 'user', role: 'admin', scope: 'commands:approve', stepUp: true, resource: 'command_request' } } as const;

  app.post('/api/commands', { schema: { body: NewCommandBody, response: { 201: CommandRequestSchema } }, config: operator }, async (request, reply) => {
    const { params, ...rest } = request.body;
    const created = await commands.requests.create(actorOf(request), { ...rest, params: params as Record<string, unknown> });
    reply.code(201);
    return created;
  });

  app.get('/api/commands', { schema: { querystring: ListQuery, response: { 200: CommandPage } }, config: viewer }, (request) =>
    commands.requests.list(actorOf(request), request.query),
  );

  app.get('/api/commands/:id', { schema: { params: IdParam, response: { 200: CommandDetailSchema } }, config: viewer }, async (request) => {
    const view = await commands.requests.show(actorOf(request), request.params.id);
    return { ...view, ...(await commands.reads.progress(view.id)) };
  });

  app.get('/api/commands/:id/results', { schema: { params: IdParam, response: { 200: ResultList } }, config: reader }, async (request) => {
    const view = await commands.requests.show(actorOf(request), request.params.id);
    return commands.reads.results(view.id);
  });

  app.post('/api/commands/:id/approve', { schema: { params: IdParam, body: DecisionBody, response: { 200: CommandRequestSchema } }, config: approver, preValidation: emptyBodyAllowed }, (request) =>
    commands.requests.approve(actorOf(request), request.params.id, request.body.comment),
  );

  app.post('/api/commands/:id/reject', { schema: { params: IdParam, body: DecisionBody, response: { 200: CommandRequestSchema } }, config: approver, preValidation: emptyBodyAllowed }, (request) =>
    commands.requests.reject(actorOf(request), request.params.id, request.body.comment),
  );

  app.post('/api/commands/:id/cancel', { schema: { params: IdParam, body: EmptyBody, response: { 200: CommandRequestSchema } }, config: operator, preValidation: emptyBodyAllowed }, (request) =>
    commands.requests.cancel(actorOf(request), request.params.id),
  );

  app.get('/api/fleet/machines/:id/commands', { schema: { params: IdParam, querystring: PageQuery, response: { 200: MachineCommandPage } }, config: viewer }, (request) =>
    commands.reads.ofMachine(request.params.id, request.query),
  );
};
