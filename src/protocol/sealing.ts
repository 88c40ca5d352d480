/**
 * Sealed agent payloads (docs/protocol.md, the spec for other
 * languages too). Pure functions over
 * node:crypto, shared by the server and the agent.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { base64urlLength, fromBase64url, looksLikeBase64url, toBase64url } from './base64url.js';
import { hkdfKey } from './kdf.js';

export interface SealedEnvelope {
  v: 1;
  kid: number;
  ts: number;
  seq: number;
  /** 12 bytes, base64url without padding. */
  nonce: string;
  /** Ciphertext followed by the 16-byte GCM tag, base64url without padding. */
  ct: string;
}

/** A new sealing key, sealed under the previous one (`rekey` in a report answer). */
export interface SealedRekey {
  kid: number;
  nonce: string;
  ct: string;
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** kid is stored as a 32-bit integer. */
export const MAX_KID = 2_147_483_647;
/** Largest plaintext one envelope may carry; keeps a sealed body under the 1 MiB API limit. */
export const MAX_PLAINTEXT_BYTES = 512 * 1024;
/**
 * Largest command-result plaintext: a result carries up to 1 MiB of output, and
 * its sealed body stays under the result route's 2 MiB limit.
 */
export const MAX_RESULT_PLAINTEXT_BYTES = 1_500_000;
const NONCE_CHARS = base64urlLength(NONCE_BYTES);
const MIN_CT_CHARS = base64urlLength(TAG_BYTES);
export const MAX_CT_CHARS = base64urlLength(MAX_PLAINTEXT_BYTES + TAG_BYTES);
export const MAX_RESULT_CT_CHARS = base64urlLength(MAX_RESULT_PLAINTEXT_BYTES + TAG_BYTES);
const REKEY_CT_CHARS = base64urlLength(KEY_BYTES + TAG_BYTES);

const ENVELOPE_KEYS = ['ct', 'kid', 'nonce', 'seq', 'ts', 'v'];
const REKEY_KEYS = ['ct', 'kid', 'nonce'];

/** HKDF-SHA256(ikm = master, salt = utf8(agentId), info = `flotilla/report/v<kid>`, 32 bytes). */
export function deriveAgentKey(master: Uint8Array, agentId: string, kid: number): Uint8Array {
  if (master.byteLength < KEY_BYTES) throw new RangeError(`the e2ee master must be at least ${KEY_BYTES} bytes`);
  checkAgentId(agentId);
  checkKid(kid);
  return hkdfKey(master, `flotilla/report/v${kid}`, { salt: Buffer.from(agentId, 'utf8'), length: KEY_BYTES });
}

export function reportAad(agentId: string, kid: number, ts: number, seq: number): Uint8Array {
  return aad(['flotilla/report/v1', checkAgentId(agentId), checkKid(kid), checkCounter(ts, 'ts'), checkCounter(seq, 'seq')]);
}

export function resultAad(agentId: string, kid: number, ts: number, seq: number, commandId: string): Uint8Array {
  return aad(['flotilla/result/v1', checkAgentId(agentId), checkKid(kid), checkCounter(ts, 'ts'), checkCounter(seq, 'seq'), checkField(commandId, 'commandId')]);
}

export function rekeyAad(agentId: string, newKid: number): Uint8Array {
  return aad(['flotilla/rekey/v1', checkAgentId(agentId), checkKid(newKid)]);
}

export function sealEnvelope(
  key: Uint8Array,
  fields: { kid: number; ts: number; seq: number },
  aad: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
  maxPlaintextBytes: number = MAX_PLAINTEXT_BYTES,
): SealedEnvelope {
  checkKid(fields.kid);
  checkCounter(fields.ts, 'ts');
  checkCounter(fields.seq, 'seq');
  // Refuse here what the receiver would refuse, so the sender learns at once.
  if (plaintext.byteLength > maxPlaintextBytes) throw new RangeError(`a sealed plaintext holds at most ${maxPlaintextBytes} bytes`);
  return { v: 1, kid: fields.kid, ts: fields.ts, seq: fields.seq, nonce: toBase64url(nonce), ct: toBase64url(aesGcmSeal(key, nonce, aad, plaintext)) };
}

/** The plaintext, or null when anything is wrong (shape, encoding, key, AAD, tag). Never throws. */
export function openEnvelope(key: Uint8Array, envelope: SealedEnvelope, aad: Uint8Array, maxPlaintextBytes: number = MAX_PLAINTEXT_BYTES): Uint8Array | null {
  try {
    if (!isSealedEnvelope(envelope, maxPlaintextBytes)) return null;
    return aesGcmOpen(key, envelope.nonce, aad, envelope.ct);
  } catch {
    return null;
  }
}

/** Exactly the six envelope keys with in-range values; anything else is not an envelope. */
export function isSealedEnvelope(value: unknown, maxPlaintextBytes: number = MAX_PLAINTEXT_BYTES): value is SealedEnvelope {
  if (!hasExactKeys(value, ENVELOPE_KEYS)) return false;
  return (
    value.v === 1 &&
    isKid(value.kid) &&
    isCounter(value.ts) &&
    isCounter(value.seq) &&
    isBase64urlOfLength(value.nonce, NONCE_CHARS, NONCE_CHARS) &&
    isBase64urlOfLength(value.ct, MIN_CT_CHARS, base64urlLength(maxPlaintextBytes + TAG_BYTES))
  );
}

/** Seals `newKey` under `oldKey` with AAD `flotilla/rekey/v1|<agentId>|<newKid>`. */
export function sealRekey(oldKey: Uint8Array, agentId: string, newKid: number, newKey: Uint8Array, nonce: Uint8Array = randomBytes(NONCE_BYTES)): SealedRekey {
  if (newKey.byteLength !== KEY_BYTES) throw new RangeError(`a sealing key is ${KEY_BYTES} bytes`);
  const ct = aesGcmSeal(oldKey, nonce, rekeyAad(agentId, newKid), newKey);
  return { kid: newKid, nonce: toBase64url(nonce), ct: toBase64url(ct) };
}

/** The new 32-byte key, or null when the rekey does not open for this agent. Never throws. */
export function openRekey(oldKey: Uint8Array, agentId: string, rekey: SealedRekey): Uint8Array | null {
  try {
    if (!hasExactKeys(rekey, REKEY_KEYS) || !isKid(rekey.kid)) return null;
    if (!isBase64urlOfLength(rekey.nonce, NONCE_CHARS, NONCE_CHARS) || !isBase64urlOfLength(rekey.ct, REKEY_CT_CHARS, REKEY_CT_CHARS)) return null;
    const newKey = aesGcmOpen(oldKey, rekey.nonce, rekeyAad(agentId, rekey.kid), rekey.ct);
    return newKey?.byteLength === KEY_BYTES ? newKey : null;
  } catch {
    return null;
  }
}

function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (key.byteLength !== KEY_BYTES) throw new RangeError(`a sealing key is ${KEY_BYTES} bytes`);
  if (nonce.byteLength !== NONCE_BYTES) throw new RangeError(`a nonce is ${NONCE_BYTES} bytes`);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** GCM checks the tag itself (in constant time); a mismatch makes final() throw. */
function aesGcmOpen(key: Uint8Array, nonceText: string, aad: Uint8Array, ctText: string): Uint8Array | null {
  const nonce = fromBase64url(nonceText);
  const sealed = fromBase64url(ctText);
  if (key.byteLength !== KEY_BYTES || nonce?.byteLength !== NONCE_BYTES || !sealed || sealed.byteLength < TAG_BYTES) return null;
  const tagStart = sealed.byteLength - TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(tagStart));
  // Copied out of Buffer's shared pool so the result owns its memory.
  return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, tagStart)), decipher.final()]));
}

function aad(parts: readonly (string | number)[]): Uint8Array {
  return new Uint8Array(Buffer.from(parts.join('|'), 'utf8'));
}

function hasExactKeys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const own = Object.keys(value);
  return own.length === keys.length && own.every((key) => keys.includes(key));
}

function isBase64urlOfLength(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && looksLikeBase64url(value);
}

function isKid(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_KID;
}

function isCounter(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

// AAD fields are joined with `|`, so a field holding `|` could make two
// different field lists give the same bytes; refuse it outright.
function checkField(value: string, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('|')) throw new TypeError(`${name} must be a non-empty string without "|"`);
  return value;
}

function checkAgentId(agentId: string): string {
  return checkField(agentId, 'agentId');
}

function checkKid(kid: number): number {
  if (!isKid(kid)) throw new RangeError(`kid must be an integer from 1 to ${MAX_KID}`);
  return kid;
}

function checkCounter(value: number, name: string): number {
  if (!isCounter(value)) throw new RangeError(`${name} must be a non-negative safe integer`);
  return value;
}
