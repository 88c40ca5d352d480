/**
 * Hash formats of the Python fleet server Flotilla replaces. They are only ever
 * verified, never created: a successful login rehashes to argon2id.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

export type LegacyAlgo = 'sha256' | 'bcrypt';

const SHA256_HEX = /^[0-9a-f]{64}$/i;
// Only the variants the old server wrote; `$2y$`/`$2x$` never came from it.
const BCRYPT = /^\$2[ab]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export function isLegacyAlgo(algo: string): algo is LegacyAlgo {
  return algo === 'sha256' || algo === 'bcrypt';
}

/** The old server's fallback: hex(SHA-256(utf8(password + salt))). */
export function legacySha256(password: string, salt: string): string {
  return createHash('sha256').update(password + salt, 'utf8').digest('hex');
}

export function verifyLegacySha256(password: string, salt: string, storedHex: string): boolean {
  if (!SHA256_HEX.test(storedHex)) return false;
  const expected = Buffer.from(storedHex, 'hex');
  const actual = createHash('sha256').update(password + salt, 'utf8').digest();
  // Constant time, so response timing does not leak how many bytes matched.
  return timingSafeEqual(actual, expected);
}

export async function verifyLegacyBcrypt(password: string, storedHash: string): Promise<boolean> {
  if (!BCRYPT.test(storedHash)) return false;
  try {
    return await bcrypt.compare(password, storedHash);
  } catch {
    return false;
  }
}

/**
 * Verifies a legacy hash; never throws, a malformed row simply fails.
 * A sha256 hash without its salt fails: the old server always stored one.
 */
export async function verifyLegacy(
  stored: { hash: string; algo: LegacyAlgo; salt: string | null },
  password: string,
): Promise<boolean> {
  if (stored.algo === 'sha256') return stored.salt !== null && verifyLegacySha256(password, stored.salt, stored.hash);
  return verifyLegacyBcrypt(password, stored.hash);
}
