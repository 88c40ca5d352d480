import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Clock } from '../../lib/clock.js';
import type { Identity } from '../module.js';
import { CSRF_HEADER, REFRESH_COOKIE } from '../policy.js';
import type { RequestFacts } from '../sessions/service.js';
import { bearerDelivery, cookieDelivery } from '../sessions/delivery.js';
import type { PresentedRefresh } from '../refresh.js';
import { clearSessionCookies, sendTokens } from './cookies.js';
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

/** The refresh token from the body (an API client) or else the cookie (a browser). */
function presentedRefresh(request: FastifyRequest<{ Body: { refreshToken?: string } }>): PresentedRefresh {
  const fromBody = request.body.refreshToken;
  if (fromBody !== undefined) return { via: 'bearer', token: fromBody };
  const header = request.headers[CSRF_HEADER];
  return { via: 'cookie', token: request.cookies[REFRESH_COOKIE], csrfHeader: typeof header === 'string' ? header : undefined };
}

/**
 * Login, token exchange, second factors, refresh and logout (docs/api.md
 * "Sign-in and sessions"). The browser routes answer with cookies, the
 * /api/auth/token ones with bearer tokens; both share one login flow.
 */
export const authRoutes: FastifyPluginAsync<{ identity: Identity; clock: Clock }> = async (base, { identity, clock }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const open = { policy: { auth: 'none' } } as const;
  /** Every step that checks a credential takes a failed-login slot per IP first. */
  const loginStep = { policy: { auth: 'none', rateLimit: 'login' } } as const;
  const browserSession = (reply: FastifyReply, { user, tokens, passwordChangeRequired }: LoginResult) => {
    const { csrfToken } = sendTokens(reply, cookieDelivery(tokens, clock.nowMs()));
    return { user, csrfToken, passwordChangeRequired };
  };
  const bearerSession = ({ tokens, passwordChangeRequired }: LoginResult) => ({ ...bearerDelivery(tokens).body, passwordChangeRequired });

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
    async (request, reply) => sendTokens(reply, await identity.refresh(presentedRefresh(request), requestFacts(request))),
  );

  app.post(
    '/api/auth/logout',
    { schema: { response: { 200: Ok } }, config: { policy: { auth: 'user', role: 'viewer', scope: 'account', allowDuringPasswordChange: true, allowDuringMfaEnrollment: true, decoySafe: true } } },
    async (request, reply) => {
      if (request.principal) await identity.logout(request.principal, request.ip);
      clearSessionCookies(reply);
      return { ok: true as const };
    },
  );
};
