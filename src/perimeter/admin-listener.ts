import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';

/** Requests that arrived on the admin listener; a WeakSet, so nothing outlives its request. */
const adminRequests = new WeakSet<IncomingMessage>();

/** True for a request from the mutual-TLS admin listener whose client certificate verified. */
export function isAdminListenerRequest(req: IncomingMessage): boolean {
  return adminRequests.has(req) && (req.socket as TLSSocket).authorized === true;
}

/** Checks the CA bundle holds at least one certificate; a bad file stops the boot. */
export function checkCaBundle(pem: string, file: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`perimeter.adminListener.caFile: ${file} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`perimeter.adminListener.caFile: ${file} holds an unreadable certificate`, { cause: err });
    }
  }
}

export interface AdminListenerOptions {
  /** The listener's own certificate and TLS policy (see server/tls.ts). */
  tls: SecureContextOptions;
  /** PEM of the CA(s) client certificates must chain to. */
  caPem: string;
  /** The app's request handler (Fastify's `app.routing`). */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The optional admin listener: HTTPS that demands a client
 * certificate chaining to the configured CA. OpenSSL refuses the handshake for
 * a missing, expired or foreign certificate, so no request is ever read from
 * such a client. It serves the same app; the perimeter lets admin routes
 * through only here.
 */
export function createAdminListener(opts: AdminListenerOptions): https.Server {
  return https.createServer(
    {
      ...opts.tls,
      ca: opts.caPem,
      requestCert: true,
      rejectUnauthorized: true,
      requestTimeout: 30_000,
      headersTimeout: 15_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      adminRequests.add(req);
      opts.handler(req, res);
    },
  );
}

/** Applies a renewed certificate without dropping the client-certificate requirement. */
export function renewAdminListenerContext(server: https.Server, tls: SecureContextOptions, caPem: string): void {
  server.setSecureContext({ ...tls, ca: caPem });
}
