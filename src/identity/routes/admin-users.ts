import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import type { Actor } from '../users/service.js';
import { sessionView } from './me.js';
import { CreateUser, IdParam, ListQuery, Ok, PatchUser, ResetPassword, SessionList, SessionParams, UserPage, UserSchema } from './schemas.js';

const actorOf = (request: FastifyRequest): Actor => ({ id: request.principal?.userId ?? null, ip: request.ip });

/** User administration; admins only. */
export const adminUserRoutes: FastifyPluginAsync<{ identity: Identity }> = async (base, { identity }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const admin = { policy: { auth: 'user', role: 'admin', scope: 'users:admin', resource: 'user' } } as const;
  // Changes that hand someone an account or admin rights: a stolen admin session alone cannot make them.
  const takeover = { policy: { ...admin.policy, stepUp: true } } as const;
  const { users, sessions } = identity;

  app.get('/api/admin/users', { schema: { querystring: ListQuery, response: { 200: UserPage } }, config: admin }, (request) =>
    users.list({ limit: request.query.limit, cursor: request.query.cursor }),
  );

  app.post('/api/admin/users', { schema: { body: CreateUser, response: { 201: UserSchema } }, config: takeover }, async (request, reply) => {
    reply.code(201);
    return users.create(request.body, actorOf(request));
  });

  app.get('/api/admin/users/:id', { schema: { params: IdParam, response: { 200: UserSchema } }, config: admin }, (request) => users.get(request.params.id));

  app.patch('/api/admin/users/:id', { schema: { params: IdParam, body: PatchUser, response: { 200: UserSchema } }, config: takeover }, (request) =>
    users.update(request.params.id, request.body, actorOf(request)),
  );

  app.post('/api/admin/users/:id/password', { schema: { params: IdParam, body: ResetPassword, response: { 200: UserSchema } }, config: takeover }, (request) =>
    users.resetPassword(request.params.id, request.body.password, actorOf(request)),
  );

  app.delete('/api/admin/users/:id', { schema: { params: IdParam, response: { 200: Ok } }, config: admin }, async (request) => {
    await users.remove(request.params.id, actorOf(request));
    return { ok: true as const };
  });

  /** For a user who lost their second factors: they log in with the password alone and enroll again. */
  app.delete('/api/admin/users/:id/mfa', { schema: { params: IdParam, response: { 200: Ok } }, config: takeover }, async (request) => {
    await identity.resetMfa(request.params.id, actorOf(request));
    return { ok: true as const };
  });

  app.get('/api/admin/users/:id/sessions', { schema: { params: IdParam, response: { 200: SessionList } }, config: admin }, async (request) => {
    await users.get(request.params.id);
    const rows = await sessions.listForUser(request.params.id);
    return { items: rows.map((row) => sessionView(row, request.principal?.sessionId ?? null)), next: null };
  });

  app.delete('/api/admin/users/:id/sessions/:sid', { schema: { params: SessionParams, response: { 200: Ok } }, config: admin }, async (request) => {
    const owned = (await sessions.listForUser(request.params.id)).some((row) => row.id === request.params.sid);
    if (!owned) throw identityError('session_not_found');
    await sessions.revoke(request.params.sid, 'revoked_by_admin');
    return { ok: true as const };
  });
};
