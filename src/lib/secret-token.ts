import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isId } from './ids.js';

/**
 * Tokens shaped `<prefix>_<id>_<secret>` (docs/api.md): the id locates the
 * row in O(1), only SHA-256 of the secret is stored, and the comparison runs in
 * constant time. The secret is base64url and may itself contain `_` and `-`.
 */
export interface ParsedToken {
  readonly id: string;
  readonly secret: string;
}

export function mintToken(prefix: string, id: string): { token: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${prefix}_${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(prefix: string, token: string): ParsedToken | null {
  if (typeof token !== 'string' || token.length > 256 || !token.startsWith(`${prefix}_`)) return null;
  const rest = token.slice(prefix.length + 1);
  const sep = rest.indexOf('_');
  if (sep <= 0) return null;
  const id = rest.slice(0, sep);
  const secret = rest.slice(sep + 1);
  if (!isId(id) || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
  return { id, secret };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
