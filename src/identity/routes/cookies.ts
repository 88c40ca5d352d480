import type { FastifyReply } from 'fastify';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, REFRESH_COOKIE_PATH } from '../policy.js';
import type { CookieDelivery, TokenDelivery } from '../sessions/delivery.js';

const base = { secure: true, sameSite: 'strict', path: '/' } as const;

/** Browser sessions: HttpOnly token cookies plus the readable CSRF cookie. */
function setSessionCookies(reply: FastifyReply, { tokens, sessionMaxAge }: CookieDelivery): void {
  reply.setCookie(ACCESS_COOKIE, tokens.accessToken, { ...base, httpOnly: true, maxAge: tokens.expiresIn });
  reply.setCookie(REFRESH_COOKIE, tokens.refreshToken, { ...base, httpOnly: true, path: REFRESH_COOKIE_PATH, maxAge: sessionMaxAge });
  reply.setCookie(CSRF_COOKIE, tokens.csrfToken, { ...base, httpOnly: false, maxAge: sessionMaxAge });
}

/** Sets the cookies of a cookie delivery; returns the body either kind answers with. */
export function sendTokens<D extends TokenDelivery>(reply: FastifyReply, delivery: D): D['body'] {
  if (delivery.transport === 'cookie') setSessionCookies(reply, delivery);
  return delivery.body;
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(ACCESS_COOKIE, { ...base, httpOnly: true });
  reply.clearCookie(REFRESH_COOKIE, { ...base, httpOnly: true, path: REFRESH_COOKIE_PATH });
  reply.clearCookie(CSRF_COOKIE, { ...base });
}
