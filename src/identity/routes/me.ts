import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import type { Principal } from '../sessions/service.js';
import type { SessionRow } from '../sessions/repo.js';
import { sendTokens } from './cookies.js';
import { IdParam, Ok, PasswordChange, PasswordChangeResponse, SessionList, UserSchema } from './schemas.js';
import { Type } from 'typebox';

export function sessionView(row: SessionRow, currentSessionId: string | null) {
  return {
    id: row.id,
    ip: row.ip,
    userAgent: row.userAgent,
    amr: JSON.parse(row.amr) as string[],
    createdAt: row.createdAt,
    lastSeenAt: row.lastSeenAt,
    expiresAt: row.expiresAt,
    current: row.id === currentSessionId,
  };
}

function principalOf(principal: Principal | null): Principal {
  if (!principal) throw identityError('unauthorized');
  return principal;
}

/** The signed-in user's own account. */
export const meRoutes: FastifyPluginAsync<{ identity: Identity }> = async (base, { identity }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const self = { auth: 'user', role: 'viewer', scope: 'account', allowDuringPasswordChange: true, allowDuringMfaEnrollment: true } as const;

  app.get('/api/me', { schema: { response: { 200: Type.Object({ user: UserSchema }, { additionalProperties: false }) } }, config: { policy: self } }, async (request) => ({
    user: await identity.users.get(principalOf(request.principal).userId),
  }));

  app.post(
    '/api/me/password',
    { schema: { body: PasswordChange, response: { 200: PasswordChangeResponse } }, config: { policy: self } },
    async (request, reply) => {
      const { user, delivery } = await identity.changeOwnPassword(principalOf(request.principal), request.body, request.ip);
      return { user, ...sendTokens(reply, delivery) };
    },
  );

  app.get('/api/me/sessions', { schema: { response: { 200: SessionList } }, config: { policy: { auth: 'user', role: 'viewer', scope: 'account' } } }, async (request) => {
    const principal = principalOf(request.principal);
    const rows = await identity.sessions.listForUser(principal.userId);
    return { items: rows.map((row) => sessionView(row, principal.sessionId)), next: null };
  });

  app.delete(
    '/api/me/sessions/:id',
    { schema: { params: IdParam, response: { 200: Ok } }, config: { policy: { auth: 'user', role: 'viewer', scope: 'account' } } },
    async (request) => {
      const principal = principalOf(request.principal);
      const owned = (await identity.sessions.listForUser(principal.userId)).some((row) => row.id === request.params.id);
      if (!owned) throw identityError('session_not_found');
      await identity.sessions.revoke(request.params.id, 'revoked_by_user');
      return { ok: true as const };
    },
  );
};
