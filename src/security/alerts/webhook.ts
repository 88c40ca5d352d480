import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Clock } from '../../lib/clock.js';
import type { EgressGuard } from '../../perimeter/egress.js';
import type { Alerter } from './alerter.js';

export const SIGNATURE_HEADER = 'x-flotilla-signature';
export const TIMESTAMP_HEADER = 'x-flotilla-timestamp';

export interface WebhookOptions {
  url: string;
  /** Shared with the receiver; signs `<timestamp>.<body>`. */
  secret: string;
  timeoutMs: number;
  clock: Clock;
  /**
   * The perimeter's egress guard: the host is resolved and checked once and
   * the request goes to exactly that address (no DNS rebinding). Without it
   * only loopback URLs are accepted.
   */
  egress?: Pick<EgressGuard, 'check'>;
}

const isLoopbackHost = (host: string): boolean => host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** `t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>`: the receiver recomputes it and checks the time. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** Checks a webhook URL once, at start-up: https (http only to loopback), and not loopback-free without a guard. */
export function checkWebhookUrl(text: string, hasEgressGuard: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('alerts.webhookUrl is not a valid URL');
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error('alerts.webhookUrl must use https (plain http only to a loopback address)');
  if (url.username || url.password) throw new Error('alerts.webhookUrl must not carry credentials; the body is signed with alerts.webhookSecret');
  if (!loopback && !hasEgressGuard) throw new Error('alerts.webhookUrl: non-loopback webhooks go through the perimeter egress guard, which is not available');
  return url;
}

/** POSTs each alert as JSON with an HMAC signature over timestamp and body. */
export function webhookAlerter(opts: WebhookOptions): Alerter {
  const url = checkWebhookUrl(opts.url, opts.egress !== undefined);
  return {
    async send(alert) {
      const body = JSON.stringify(alert);
      const timestamp = opts.clock.nowMs();
      // Loopback needs no guard; anything else connects only to the address the guard checked.
      const target = isLoopbackHost(url.hostname) || !opts.egress ? null : await opts.egress.check(url);
      const host = target?.address ?? url.hostname.replace(/^\[|\]$/g, '');
      const client = url.protocol === 'https:' ? https : http;
      await new Promise<void>((resolve, reject) => {
        const req = client.request(
          {
            method: 'POST',
            host,
            port: url.port || (url.protocol === 'https:' ? 443 : 80),
            path: `${url.pathname}${url.search}`,
            // TLS checks the certificate against the name, not the address we connect to.
            ...(url.protocol === 'https:' && isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: url.hostname } : {}),
            headers: {
              host: url.host,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              [TIMESTAMP_HEADER]: String(timestamp),
              [SIGNATURE_HEADER]: webhookSignature(opts.secret, timestamp, body),
            },
            timeout: opts.timeoutMs,
          },
          (res) => {
            res.resume();
            res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`webhook answered ${res.statusCode}`))));
          },
        );
        req.on('timeout', () => req.destroy(new Error('webhook timed out')));
        req.on('error', reject);
        req.end(body);
      });
    },
  };
}
