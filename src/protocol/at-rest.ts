/**
 * Encryption at rest for sensitive columns (docs/protocol.md): AES-256-GCM under a
 * key derived with HKDF from `secrets.db`. The AAD binds each value to its
 * table, column and row id, so a ciphertext copied into another row or column
 * (by someone with write access to the database) fails to open instead of
 * lending one user's secret to another.
 *
 * Stored form: `v1.<nonce>.<ciphertext+tag>`, both parts base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { hkdfKey, secretBytes } from './kdf.js';

export interface FieldContext {
  table: string;
  column: string;
  rowId: string;
}

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const STORED = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/;

/** The at-rest key: HKDF-SHA256(ikm = secrets.db, no salt, info = "flotilla/at-rest/v1"). */
export function deriveAtRestKey(dbSecret: string): Uint8Array {
  return hkdfKey(secretBytes(dbSecret, 'secrets.db'), `flotilla/at-rest/${VERSION}`, { length: KEY_BYTES });
}

function aadOf(ctx: FieldContext): Buffer {
  for (const part of [ctx.table, ctx.column, ctx.rowId]) {
    if (part.length === 0 || part.includes('|')) throw new RangeError('at-rest context parts must be non-empty and contain no "|"');
  }
  return Buffer.from(`flotilla/at-rest/${VERSION}|${ctx.table}|${ctx.column}|${ctx.rowId}`, 'utf8');
}

export function encryptField(key: Uint8Array, ctx: FieldContext, plaintext: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aadOf(ctx));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${nonce.toString('base64url')}.${ct.toString('base64url')}`;
}

/** The plaintext; throws (without detail) for a wrong key, a wrong context or a tampered value. */
export function decryptField(key: Uint8Array, ctx: FieldContext, stored: string): string {
  const match = STORED.exec(stored);
  if (!match) throw new Error('at-rest value is malformed');
  const nonce = Buffer.from(match[1] as string, 'base64url');
  const body = Buffer.from(match[2] as string, 'base64url');
  if (body.byteLength < TAG_BYTES) throw new Error('at-rest value is malformed');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aadOf(ctx));
    decipher.setAuthTag(body.subarray(body.byteLength - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.byteLength - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new Error('at-rest value does not open under this key and context', { cause: err });
  }
}
