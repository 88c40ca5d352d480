import { SignJWT, jwtVerify } from 'jose';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { isRole, type Role } from '../roles.js';
import { identityError } from '../errors.js';

/** The verified claims of an access token (DESIGN.md §7). */
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

export function accessTokens(key: Uint8Array, ttlSeconds: number, clock: Clock): AccessTokenIssuer {
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
        .sign(key);
      return { token, jti, expiresAt: exp * 1000 };
    },

    async verify(token) {
      let payload;
      try {
        // Pin the algorithm: a token signed any other way (or "none") is refused.
        ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: new Date(clock.nowMs()), typ: 'JWT' }));
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
      return { sub, sid, jti, role, amr: amr.map(String), iat, exp, pcr: pcr === true };
    },
  };
}
