import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { fromBase64url, toBase64url } from '../../protocol/base64url.js';
import { hkdfKey, secretBytes } from '../../protocol/kdf.js';

/** PKCS#8 DER header of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface AuditKeys {
  /** HMAC-SHA256 key of the chain. */
  readonly hmacKey: Buffer;
  /** Ed25519 signature (base64url) over the UTF-8 text. */
  sign(text: string): string;
  verify(text: string, sig: string): boolean;
}

/**
 * Both keys come from `secrets.audit` through HKDF with distinct labels, so the
 * chain key and the checkpoint key are independent and every node derives the same.
 */
export function deriveAuditKeys(secret: string): AuditKeys {
  const ikm = secretBytes(secret, 'secrets.audit');
  const derive = (label: string) => Buffer.from(hkdfKey(ikm, `flotilla/audit/${label}`));
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, derive('checkpoint')]), format: 'der', type: 'pkcs8' });
  const publicKey: KeyObject = createPublicKey(privateKey);
  return {
    hmacKey: derive('chain'),
    sign: (text) => toBase64url(sign(null, Buffer.from(text, 'utf8'), privateKey)),
    verify: (text, sig) => {
      const bytes = fromBase64url(sig);
      if (bytes?.byteLength !== 64) return false;
      try {
        return verify(null, Buffer.from(text, 'utf8'), publicKey, bytes);
      } catch {
        return false;
      }
    },
  };
}
