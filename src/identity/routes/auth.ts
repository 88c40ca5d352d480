import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Clock } from '../../lib/clock.js';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import { REFRESH_COOKIE } from '../policy.js';
import type { RequestFacts } from '../sessions/service.js';
import { clearSessionCookies, setSessionCookies } from './cookies.js';
import { Credentials, LoginResponse, Ok, RefreshBody, RefreshResponse, TokenResponse } from './schemas.js';

export function requestFacts(request: FastifyRequest): RequestFacts {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null };
}

/** Login, token exchange, refresh and logout (DESIGN.md §13 "People and automation"). */
export const authRoutes: FastifyPluginAsync<{ identity: Identity; clock: Clock }> = async (base, { identity, clock }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/api/auth/login',
    { schema: { body: Credentials, response: { 200: LoginResponse } }, config: { policy: { auth: 'none' } } },
    async (request, reply) => {
      const result = await identity.login(request.body, requestFacts(request));
      setSessionCookies(reply, result.tokens, clock.nowMs());
      return { user: result.user, csrfToken: result.tokens.csrfToken, passwordChangeRequired: result.passwordChangeRequired };
    },
  );

  app.post(
    '/api/auth/token',
    { schema: { body: Credentials, response: { 200: TokenResponse } }, config: { policy: { auth: 'none' } } },
    async (request) => {
      const { tokens, passwordChangeRequired } = await identity.login(request.body, requestFacts(request));
      return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn, passwordChangeRequired };
    },
  );

  app.post(
    '/api/auth/refresh',
    {
      schema: { body: RefreshBody, response: { 200: RefreshResponse } },
      config: { policy: { auth: 'none' } },
      // A browser refresh carries only the cookie; treat a missing body as an empty object.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
    },
    async (request, reply) => {
      const fromBody = request.body.refreshToken;
      const presented = fromBody ?? request.cookies[REFRESH_COOKIE];
      if (!presented) throw identityError('invalid_refresh_token');
      const tokens = await identity.sessions.refresh(presented, requestFacts(request));
      if (fromBody !== undefined) return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn };
      setSessionCookies(reply, tokens, clock.nowMs());
      return { csrfToken: tokens.csrfToken, expiresIn: tokens.expiresIn };
    },
  );

  app.post(
    '/api/auth/logout',
    { schema: { response: { 200: Ok } }, config: { policy: { auth: 'user', role: 'viewer', allowDuringPasswordChange: true } } },
    async (request, reply) => {
      const principal = request.principal;
      if (principal) {
        await identity.sessions.revoke(principal.sessionId, 'logout');
        await identity.sessions.revokeAccessToken(principal.jti, principal.accessExpiresAt);
        identity.events.emit({ type: 'logout', at: clock.nowMs(), actorId: principal.userId, actorIp: request.ip, userId: principal.userId });
      }
      clearSessionCookies(reply);
      return { ok: true as const };
    },
  );
};
