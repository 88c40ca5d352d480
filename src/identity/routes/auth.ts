import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Clock } from '../../lib/clock.js';
import { identityError } from '../errors.js';
import type { Identity } from '../module.js';
import { CSRF_HEADER, REFRESH_COOKIE } from '../policy.js';
import type { RequestFacts } from '../sessions/service.js';
import { clearSessionCookies, setSessionCookies } from './cookies.js';
import type { LoginResult } from '../login.js';
import {
  AuthenticationOptions,
  Credentials,
  LoginResponse,
  LoginSession,
  MfaCodeBody,
  Ok,
  PasskeyLoginBody,
  PasskeyLoginOptionsBody,
  RefreshBody,
  RefreshResponse,
  TokenResponse,
  TokenSession,
} from './schemas.js';

/** A POST that may come without a body is validated as an empty object. */
export async function emptyBodyAsObject(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

export function requestFacts(request: FastifyRequest): RequestFacts {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null };
}

/** The port the request arrived on: the socket's own, never a header the client wrote. */
export function listenerPort(request: FastifyRequest): number {
  return request.socket.localPort ?? 0;
}

/**
 * Login, token exchange, second factors, refresh and logout (DESIGN.md §13
 * "People and automation"). The browser routes answer with cookies, the
 * /api/auth/token ones with bearer tokens; both share one login flow.
 */
export const authRoutes: FastifyPluginAsync<{ identity: Identity; clock: Clock }> = async (base, { identity, clock }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const open = { policy: { auth: 'none' } } as const;
  /** Every step that checks a credential takes a failed-login slot per IP first. */
  const loginStep = { policy: { auth: 'none', rateLimit: 'login' } } as const;
  const browserSession = (reply: FastifyReply, result: LoginResult) => {
    setSessionCookies(reply, result.tokens, clock.nowMs());
    return { user: result.user, csrfToken: result.tokens.csrfToken, passwordChangeRequired: result.passwordChangeRequired };
  };
  const bearerSession = ({ tokens, passwordChangeRequired }: LoginResult) => ({
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresIn: tokens.expiresIn,
    passwordChangeRequired,
  });

  app.post('/api/auth/login', { schema: { body: Credentials, response: { 200: LoginResponse } }, config: loginStep }, async (request, reply) => {
    const outcome = await identity.login(request.body, requestFacts(request));
    if (outcome.mfaRequired) return { mfaRequired: true as const, mfaTicket: outcome.mfaTicket, methods: outcome.methods };
    return browserSession(reply, outcome);
  });

  app.post('/api/auth/login/mfa', { schema: { body: MfaCodeBody, response: { 200: LoginSession } }, config: loginStep }, async (request, reply) =>
    browserSession(reply, await identity.loginSecondFactor(request.body, requestFacts(request))),
  );

  app.post('/api/auth/token', { schema: { body: Credentials, response: { 200: TokenResponse } }, config: loginStep }, async (request) => {
    const outcome = await identity.login(request.body, requestFacts(request));
    if (outcome.mfaRequired) return { mfaRequired: true as const, mfaTicket: outcome.mfaTicket, methods: outcome.methods };
    return bearerSession(outcome);
  });

  app.post('/api/auth/token/mfa', { schema: { body: MfaCodeBody, response: { 200: TokenSession } }, config: loginStep }, async (request) =>
    bearerSession(await identity.loginSecondFactor(request.body, requestFacts(request))),
  );

  app.post(
    '/api/auth/webauthn/login/options',
    { schema: { body: PasskeyLoginOptionsBody, response: { 200: AuthenticationOptions } }, config: open, preValidation: emptyBodyAsObject },
    async (request) => identity.passkeyLoginOptions(request.body),
  );

  app.post('/api/auth/webauthn/login/verify', { schema: { body: PasskeyLoginBody, response: { 200: LoginSession } }, config: loginStep }, async (request, reply) => {
    const origins = identity.passkeys.originsFor(listenerPort(request));
    return browserSession(reply, await identity.passkeyLogin(request.body, requestFacts(request), origins));
  });

  app.post(
    '/api/auth/refresh',
    {
      schema: { body: RefreshBody, response: { 200: RefreshResponse } },
      config: open,
      // A browser refresh carries only the cookie.
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const fromBody = request.body.refreshToken;
      const presented = fromBody ?? request.cookies[REFRESH_COOKIE];
      if (!presented) throw identityError('invalid_refresh_token');
      // The browser attaches the cookie on its own: like any cookie-authenticated change, it needs the CSRF header.
      const header = request.headers[CSRF_HEADER];
      const csrf = fromBody === undefined ? { presented: typeof header === 'string' ? header : undefined } : undefined;
      const tokens = await identity.sessions.refresh(presented, requestFacts(request), csrf);
      if (fromBody !== undefined) return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn };
      setSessionCookies(reply, tokens, clock.nowMs());
      return { csrfToken: tokens.csrfToken, expiresIn: tokens.expiresIn };
    },
  );

  app.post(
    '/api/auth/logout',
    { schema: { response: { 200: Ok } }, config: { policy: { auth: 'user', role: 'viewer', scope: 'account', allowDuringPasswordChange: true, allowDuringMfaEnrollment: true, decoySafe: true } } },
    async (request, reply) => {
      const principal = request.principal;
      if (principal) {
        await identity.sessions.revoke(principal.sessionId, 'logout');
        await identity.sessions.revokeAccessToken(principal.jti, principal.accessExpiresAt);
        // A decoy's user exists nowhere; its whole visit is already recorded as honey_hit.
        if (!principal.decoy) identity.events.emit({ type: 'logout', at: clock.nowMs(), actorId: principal.userId, actorIp: request.ip, userId: principal.userId });
      }
      clearSessionCookies(reply);
      return { ok: true as const };
    },
  );
};
