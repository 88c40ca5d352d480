import type { FastifyReply } from 'fastify';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, REFRESH_COOKIE_PATH } from '../policy.js';
import type { IssuedTokens } from '../sessions/service.js';

const base = { secure: true, sameSite: 'strict', path: '/' } as const;

/** Browser sessions: HttpOnly token cookies plus the readable CSRF cookie. */
export function setSessionCookies(reply: FastifyReply, tokens: IssuedTokens, nowMs: number): void {
  reply.setCookie(ACCESS_COOKIE, tokens.accessToken, { ...base, httpOnly: true, maxAge: tokens.expiresIn });
  reply.setCookie(REFRESH_COOKIE, tokens.refreshToken, {
    ...base,
    httpOnly: true,
    path: REFRESH_COOKIE_PATH,
    maxAge: Math.max(1, Math.floor((tokens.refreshExpiresAt - nowMs) / 1000)),
  });
  reply.setCookie(CSRF_COOKIE, tokens.csrfToken, { ...base, httpOnly: false, maxAge: Math.max(1, Math.floor((tokens.refreshExpiresAt - nowMs) / 1000)) });
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(ACCESS_COOKIE, { ...base, httpOnly: true });
  reply.clearCookie(REFRESH_COOKIE, { ...base, httpOnly: true, path: REFRESH_COOKIE_PATH });
  reply.clearCookie(CSRF_COOKIE, { ...base });
}
