import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens are an HMAC of the session id: nothing to store, bound to one
 * session, and unguessable without the server key. Sent by the client in the
 * X-CSRF-Token header on every state-changing cookie-authenticated request.
 */
export function csrfTokenFor(key: Uint8Array, sessionId: string): string {
  return createHmac('sha256', key).update(`flotilla/csrf|${sessionId}`).digest('base64url');
}

export function csrfTokenValid(key: Uint8Array, sessionId: string, presented: string | undefined): boolean {
  if (typeof presented !== 'string' || presented.length > 128) return false;
  const expected = Buffer.from(csrfTokenFor(key, sessionId));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
