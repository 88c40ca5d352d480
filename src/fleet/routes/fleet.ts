import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { fleetError } from '../errors.js';
import type { Fleet } from '../module.js';
import { HistoryQuery, HistorySchema, IdParam, MachineDetailSchema, MachinePage, MachineQuery, SummarySchema, TagList, TagsBody, TagsResponse } from './schemas.js';

/** The fleet as people see it: summary, machines, history, tags and live events. */
export const fleetRoutes: FastifyPluginAsync<{ fleet: Fleet }> = async (base, { fleet }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = { policy: { auth: 'user', role: 'viewer', scope: 'fleet:read' } } as const;
  const operator = { policy: { auth: 'user', role: 'operator', scope: 'fleet:write' } } as const;

  app.get('/api/fleet/summary', { schema: { response: { 200: SummarySchema } }, config: viewer }, () => fleet.machines.summary());

  app.get('/api/fleet/machines', { schema: { querystring: MachineQuery, response: { 200: MachinePage } }, config: viewer }, (request) =>
    fleet.machines.list(request.query),
  );

  app.get('/api/fleet/machines/:id', { schema: { params: IdParam, response: { 200: MachineDetailSchema } }, config: viewer }, (request) =>
    fleet.machines.detail(request.params.id),
  );

  app.get('/api/fleet/machines/:id/history', { schema: { params: IdParam, querystring: HistoryQuery, response: { 200: HistorySchema } }, config: viewer }, (request) =>
    fleet.history.read(request.params.id, request.query),
  );

  app.put('/api/fleet/machines/:id/tags', { schema: { params: IdParam, body: TagsBody, response: { 200: TagsResponse } }, config: operator }, async (request) => ({
    tags: await fleet.machines.setTags(request.params.id, request.body.tags),
  }));

  app.get('/api/fleet/tags', { schema: { response: { 200: TagList } }, config: viewer }, async () => ({ items: await fleet.machines.listTags(), next: null }));

  // Server-sent events. A stream, not JSON: the 200 schema only documents it. It lasts while the access token it
  // was opened with does, and ends early (an `end` event, then EOF) when that token or its session is revoked.
  // Registered on the untyped instance: the handler sends a stream, which the typed 200 (a string) cannot describe.
  base.get('/api/fleet/events', { schema: { response: { 200: Type.String({ description: 'text/event-stream' }) } }, config: viewer }, (request, reply) => {
    const principal = request.principal;
    // The policy has authenticated the request; a missing principal is a wiring fault, refused rather than served.
    if (!principal) throw fleetError('unauthorized');
    const stream = fleet.events.open({
      userId: principal.userId,
      sessionId: principal.sessionId,
      tokenId: principal.jti,
      expiresAt: principal.accessExpiresAt,
      admin: principal.role === 'admin',
    });
    // The response's close (not the request's, which fires once the request is read) means the client left.
    reply.raw.once('close', () => stream.close());
    return reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      .send(stream.readable);
  });
};
