import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { EgressGuard } from '../../protocol/egress.js';
import { DeliveryError, httpStatusError } from './channel.js';

/** Receivers answer with a few bytes; more than this is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const bare = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');
const isLoopbackHost = (host: string): boolean => host === 'localhost' || bare(host) === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Checks a channel URL once, at start-up: https (plain http only to a loopback
 * address, for local receivers) and no credentials in it. Messages name the key,
 * never the URL: a Slack URL is itself a credential.
 */
export function checkOutboundUrl(text: string, key: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${key} is not a valid URL`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error(`${key} must use https (plain http only to a loopback address)`);
  if (url.username || url.password) throw new Error(`${key} must not carry a user name or password`);
  return url;
}

export interface PostJsonOptions {
  url: URL;
  body: string;
  headers?: Readonly<Record<string, string>>;
  /** For the whole attempt: connect, send and the answer. */
  timeoutMs: number;
  /** Resolves the host and checks it once; the request goes to exactly that address (no DNS rebinding). */
  egress: Pick<EgressGuard, 'check'>;
  /** Extra trust anchors (PEM) for a receiver with a private CA; default the system roots. */
  ca?: string;
}

/**
 * POSTs a JSON body through the egress guard. Resolves on a 2xx answer and
 * throws a DeliveryError otherwise; redirects are not followed.
 */
export async function postJson(opts: PostJsonOptions): Promise<void> {
  const { url } = opts;
  const target = await opts.egress.check(url);
  const secure = url.protocol === 'https:';
  const client = secure ? https : http;
  await new Promise<void>((resolve, reject) => {
    const req = client.request(
      {
        method: 'POST',
        host: target.address,
        family: target.family,
        port: target.port,
        path: `${url.pathname}${url.search}`,
        // TLS checks the certificate against the name, not the address we connect to.
        ...(secure && isIP(bare(url.hostname)) === 0 ? { servername: url.hostname } : {}),
        ...(secure && opts.ca ? { ca: opts.ca } : {}),
        agent: false,
        headers: { ...opts.headers, host: url.host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) },
      },
      (res) => {
        let size = 0;
        const status = res.statusCode ?? 0;
        const settle = () => (status >= 200 && status < 300 ? resolve() : reject(httpStatusError(status)));
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          // The answer's content does not matter; a receiver that streams on is cut off.
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            settle();
          }
        });
        res.on('end', settle);
        res.on('error', () => reject(new DeliveryError('response_error')));
      },
    );
    const timer = setTimeout(() => req.destroy(new DeliveryError('timeout')), opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(opts.body);
  });
}
