import { SignJWT, jwtVerify } from 'jose';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { isRole, type Role } from '../roles.js';
import { identityError } from '../errors.js';

/** The verified claims of an access token. */
export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  role: Role;
  amr: string[];
  iat: number;
  exp: number;
  /** Password change required: every route but the password change answers 403. */
  pcr: boolean;
}

export interface AccessTokenIssuer {
  sign(claims: { sub: string; sid: string; role: Role; amr: string[]; pcr: boolean }): Promise<{ token: string; jti: string; expiresAt: number }>;
  verify(token: string): Promise<AccessClaims>;
}

/** Verified tokens remembered, so the hot path skips the HMAC; bounded, oldest evicted first. */
const VERIFIED_CACHE_SIZE = 10_000;

export function accessTokens(rawKey: Uint8Array, ttlSeconds: number, clock: Clock): AccessTokenIssuer {
  // Imported once: re-importing the raw key on every request costs more than the HMAC itself.
  const keyPromise = crypto.subtle.importKey('raw', rawKey, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  // Keyed by the whole token string, signature included, so only a byte-identical
  // token that already verified can hit; expiry is still checked on every use and
  // revocation is the caller's per-request check.
  const verified = new Map<string, AccessClaims>();
  const remember = (token: string, claims: AccessClaims) => {
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
    verified.set(token, claims);
  };
  return {
    async sign(claims) {
      const jti = newId();
      const iat = Math.floor(clock.nowMs() / 1000);
      const exp = iat + ttlSeconds;
      const token = await new SignJWT({ type: 'access', sid: claims.sid, role: claims.role, amr: claims.amr, pcr: claims.pcr })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setJti(jti)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(await keyPromise);
      return { token, jti, expiresAt: exp * 1000 };
    },

    async verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (cached.exp * 1000 > clock.nowMs()) return cached;
        verified.delete(token);
        throw identityError('unauthorized');
      }
      let payload;
      try {
        // Pin the algorithm: a token signed any other way (or "none") is refused.
        ({ payload } = await jwtVerify(token, await keyPromise, { algorithms: ['HS256'], currentDate: new Date(clock.nowMs()), typ: 'JWT' }));
      } catch (err) {
        throw identityError('unauthorized', { cause: err });
      }
      const { sub, sid, jti, role, amr, iat, exp, pcr, type } = payload;
      if (
        type !== 'access' ||
        typeof sub !== 'string' ||
        typeof sid !== 'string' ||
        typeof jti !== 'string' ||
        !isRole(role) ||
        !Array.isArray(amr) ||
        typeof iat !== 'number' ||
        typeof exp !== 'number'
      ) {
        throw identityError('unauthorized');
      }
      const claims: AccessClaims = { sub, sid, jti, role, amr: amr.map(String), iat, exp, pcr: pcr === true };
      remember(token, claims);
      return claims;
    },
  };
}
