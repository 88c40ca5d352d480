import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';

/**
 * How the agent decides the server is the server (docs/protocol.md). There is no
 * "insecure" variant on purpose: verification is never turned off.
 */
export type ServerTrust =
  | { kind: 'system' }
  /** PEM of one or more CA certificates, kept in the identity file so the agent never depends on the original path. */
  | { kind: 'ca'; caPem: string }
  /** `sha256:<64 lowercase hex>` of the server certificate's DER, as `flotilla server` prints it. */
  | { kind: 'pin'; fingerprint: string };

export class TrustError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrustError';
  }
}

/**
 * Normalizes a pin to `sha256:<hex>`. Accepts `sha256:`/`SHA256:` prefixes,
 * upper case and the colon-separated pairs openssl prints; anything else is refused.
 */
export function parsePin(text: string): string {
  const body = text.trim().replace(/^sha-?256[:=]/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(body)) throw new TrustError('the pin must be sha256:<64 hex digits>, as printed by the server');
  return `sha256:${body}`;
}

/** Reads a CA bundle and checks it holds at least one parsable certificate. */
export async function readCaFile(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrustError(`cannot read CA file ${file} (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: err });
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TrustError(`CA file ${file} holds no PEM certificate`);
  try {
    for (const block of blocks) new X509Certificate(block);
  } catch (err) {
    throw new TrustError(`CA file ${file} holds an unreadable certificate`, { cause: err });
  }
  return blocks.join('\n') + '\n';
}

/** A one-line description for logs; never the certificate itself. */
export function describeTrust(trust: ServerTrust): string {
  if (trust.kind === 'pin') return `pinned ${trust.fingerprint}`;
  if (trust.kind === 'ca') return 'configured CA';
  return 'system trust store';
}
