/**
 * Backup codes: ten single-use codes of 50 random bits each, shown once. They
 * are high-entropy, so a keyed hash (HMAC-SHA256 under a key derived from
 * secrets.db, bound to the user id) is enough: a stolen database alone cannot
 * test guesses, and no slow hash is needed.
 */
import { createHmac, randomInt } from 'node:crypto';

export const BACKUP_CODE_COUNT = 10;
// Crockford-style alphabet without 0/1/i/l/o/u, so codes read back unambiguously.
const ALPHABET = 'abcdefghjkmnpqrstvwxyz23456789';
const GROUP = 5;

export function newBackupCode(): string {
  let raw = '';
  for (let i = 0; i < GROUP * 2; i++) raw += ALPHABET[randomInt(ALPHABET.length)];
  return `${raw.slice(0, GROUP)}-${raw.slice(GROUP)}`;
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normalizeBackupCode(code: string): string | null {
  const clean = code.toLowerCase().replace(/[\s-]/g, '');
  return /^[a-z0-9]{10}$/.test(clean) ? clean : null;
}

export function hashBackupCode(key: Uint8Array, userId: string, normalized: string): string {
  return createHmac('sha256', key).update(`flotilla/backup-code|${userId}|${normalized}`).digest('hex');
}
