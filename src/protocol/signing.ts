/**
 * Signed remote commands, protocol version 2 (docs/protocol.md "Signed
 * commands"): Ed25519 over the RFC 8785 canonical JSON of the seven payload
 * fields. Pure functions over node:crypto, shared by the server (signs) and
 * the agent (verifies).
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as ed25519Sign, verify as ed25519Verify, type KeyObject } from 'node:crypto';
import { fromBase64url, toBase64url } from './base64url.js';
import { canonicalJson } from './canonical.js';

export interface CommandPayload {
  id: string;
  agentId: string;
  action: string;
  params: Record<string, unknown>;
  /** 16 random bytes, base64url (22 characters): two signings of the same request never give the same bytes. */
  nonce: string;
  issuedAt: number;
  expiresAt: number;
}

export interface SignedCommand extends CommandPayload {
  /** base64url Ed25519 signature over canonicalCommand(payload). */
  sig: string;
}

export interface CommandSigner {
  /** Raw 32-byte Ed25519 public key, base64url. */
  publicKeyRaw: string;
  sign(cmd: CommandPayload): SignedCommand;
}

const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** PKCS#8 DER header of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const NONCE_CHARS = 22;
const PAYLOAD_KEYS = ['action', 'agentId', 'expiresAt', 'id', 'issuedAt', 'nonce', 'params'];
const SIGNED_KEYS = [...PAYLOAD_KEYS, 'sig'];

/** A fresh command nonce: 16 random bytes, base64url. */
export function newCommandNonce(): string {
  return toBase64url(randomBytes(16));
}

export function commandSignerFromSeed(seed: Uint8Array): CommandSigner {
  if (seed.byteLength !== SEED_BYTES) throw new RangeError(`an Ed25519 seed is ${SEED_BYTES} bytes`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKeyRaw = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (typeof publicKeyRaw !== 'string') throw new Error('Ed25519 public key export failed');
  return {
    publicKeyRaw,
    sign(cmd: CommandPayload): SignedCommand {
      // Signing what the agent would refuse is a bug in the caller; say so now.
      if (!isCommandPayload(cmd, PAYLOAD_KEYS)) throw new TypeError('not a valid command payload');
      const payload = pickPayload(cmd);
      const sig = toBase64url(ed25519Sign(null, Buffer.from(canonicalCommand(payload), 'utf8'), privateKey));
      return { ...payload, sig };
    },
  };
}

/** True only for a well-formed command (exactly the eight keys) signed by `publicKeyRaw`. Never throws. */
export function verifyCommand(publicKeyRaw: string, cmd: SignedCommand): boolean {
  try {
    if (!isCommandPayload(cmd, SIGNED_KEYS)) return false;
    const sig = fromBase64url(cmd.sig);
    if (sig?.byteLength !== SIGNATURE_BYTES) return false;
    const publicKey = publicKeyFromRaw(publicKeyRaw);
    if (!publicKey) return false;
    return ed25519Verify(null, Buffer.from(canonicalCommand(pickPayload(cmd)), 'utf8'), publicKey, sig);
  } catch {
    return false;
  }
}

/** RFC 8785 canonical JSON of the seven signed fields: the exact bytes (UTF-8) that are signed. */
export function canonicalCommand(cmd: CommandPayload): string {
  return canonicalJson(pickPayload(cmd));
}

function pickPayload(cmd: CommandPayload): CommandPayload {
  return { id: cmd.id, agentId: cmd.agentId, action: cmd.action, params: cmd.params, nonce: cmd.nonce, issuedAt: cmd.issuedAt, expiresAt: cmd.expiresAt };
}

/** Whether `publicKeyRaw` is a usable Ed25519 public key (32 bytes, base64url, a point the verifier accepts). */
export function isCommandPublicKey(publicKeyRaw: string): boolean {
  try {
    return publicKeyFromRaw(publicKeyRaw) !== null;
  } catch {
    return false;
  }
}

function publicKeyFromRaw(publicKeyRaw: string): KeyObject | null {
  const raw = fromBase64url(publicKeyRaw);
  if (raw?.byteLength !== PUBLIC_KEY_BYTES) return null;
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKeyRaw }, format: 'jwk' });
}

// Exactly the listed keys: an unsigned extra field must never reach code that acts on the command.
function isCommandPayload(value: unknown, keys: readonly string[]): value is CommandPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const own = Object.keys(value);
  if (own.length !== keys.length || !own.every((key) => keys.includes(key))) return false;
  const cmd = value as Record<string, unknown>;
  return (
    isNonEmptyString(cmd.id) &&
    isNonEmptyString(cmd.agentId) &&
    isNonEmptyString(cmd.action) &&
    isPlainObject(cmd.params) &&
    isNonce(cmd.nonce) &&
    isTimestamp(cmd.issuedAt) &&
    isTimestamp(cmd.expiresAt) &&
    (!keys.includes('sig') || typeof cmd.sig === 'string')
  );
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isNonce(value: unknown): value is string {
  return typeof value === 'string' && value.length === NONCE_CHARS && fromBase64url(value)?.byteLength === 16;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isTimestamp(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
