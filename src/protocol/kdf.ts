import { hkdfSync } from 'node:crypto';

/**
 * HKDF-SHA256 (RFC 5869): every key Flotilla derives comes from here, each
 * under its own `info` label, so keys for different purposes are independent
 * even when they share a root secret. The labels are part of the contract
 * (docs/protocol.md): changing one changes every key derived with it.
 */
export function hkdfKey(ikm: Uint8Array, info: string, opts: { salt?: Uint8Array; length?: number } = {}): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, opts.salt ?? new Uint8Array(0), info, opts.length ?? 32));
}

/** A secret from configuration (base64url) as key material, refused when it is shorter than `minBytes`. */
export function secretBytes(secret: string, name: string, minBytes = 16): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(secret, 'base64url'));
  if (bytes.byteLength < minBytes) throw new RangeError(`${name} must be at least ${minBytes} bytes`);
  return bytes;
}
