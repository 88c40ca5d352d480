/**
 * Strict base64url (RFC 4648 §5, no padding) for the wire protocol.
 * Node's own decoder skips characters it does not know and ignores trailing
 * bits, so two different strings can decode to the same bytes; a strict
 * decoder gives every byte string exactly one accepted spelling.
 */
const ALPHABET = /^[A-Za-z0-9_-]*$/;

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The bytes, or null for anything but the one canonical unpadded spelling. */
export function fromBase64url(text: unknown): Uint8Array | null {
  if (typeof text !== 'string' || text.length % 4 === 1 || !ALPHABET.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  // Re-encoding catches non-zero trailing bits, the last source of malleability.
  if (bytes.toString('base64url') !== text) return null;
  return new Uint8Array(bytes); // a copy, outside Buffer's shared pool
}

/** Characters of the unpadded base64url text of `byteLength` bytes. */
export function base64urlLength(byteLength: number): number {
  return Math.ceil((byteLength * 4) / 3);
}

/** Whether `text` only uses the base64url alphabet and has a possible length. */
export function looksLikeBase64url(text: string): boolean {
  return text.length % 4 !== 1 && ALPHABET.test(text);
}
