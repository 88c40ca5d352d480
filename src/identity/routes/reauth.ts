import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import type { ReauthSession } from '../reauth.js';
import { emptyBodyAsObject, listenerPort, requestFacts } from './auth.js';
import { AuthenticationOptions, EmptyBody, ReauthBody, ReauthResponse } from './schemas.js';

function sessionOf(request: FastifyRequest): ReauthSession {
  if (!request.principal) throw identityError('unauthorized');
  return { userId: request.principal.userId, sessionId: request.principal.sessionId };
}

/**
 * Step-up: the session proves its user again before a route with `stepUp`
 * (second factors, admin takeovers of other accounts) answers.
 */
export const reauthRoutes: FastifyPluginAsync<{ identity: Identity }> = async (base, { identity }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  // Reachable by an admin still to enroll: adding the first factor is itself a step-up route.
  const self = { policy: { auth: 'user', role: 'viewer', scope: 'account', allowDuringMfaEnrollment: true } } as const;

  app.post('/api/me/reauth', { schema: { body: ReauthBody, response: { 200: ReauthResponse } }, config: self }, async (request) => {
    const origins = identity.passkeys.originsFor(listenerPort(request));
    const validUntil = await identity.reauthenticate(sessionOf(request), request.body, requestFacts(request), origins);
    return { ok: true as const, validUntil };
  });

  app.post(
    '/api/me/reauth/passkey/options',
    { schema: { body: EmptyBody, response: { 200: AuthenticationOptions } }, config: self, preValidation: emptyBodyAsObject },
    async (request) => identity.reauthPasskeyOptions(sessionOf(request)),
  );
};
