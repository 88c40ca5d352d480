import { createHmac } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import type { EgressGuard } from '../../protocol/egress.js';
import type { Channel } from './channel.js';
import { checkOutboundUrl, postJson } from './http-post.js';

export const SIGNATURE_HEADER = 'x-flotilla-signature';
export const TIMESTAMP_HEADER = 'x-flotilla-timestamp';

export interface WebhookOptions {
  url: string;
  /** Shared with the receiver; signs `<timestamp>.<body>`. */
  secret: string;
  timeoutMs: number;
  clock: Clock;
  egress: Pick<EgressGuard, 'check'>;
  ca?: string;
}

/** `t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>`: the receiver recomputes it and checks the time. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** POSTs each alert as JSON, signed over timestamp and body; each attempt is signed afresh so a retry is not stale. */
export function webhookChannel(opts: WebhookOptions): Channel {
  const url = checkOutboundUrl(opts.url, 'alerts.webhookUrl');
  return {
    name: 'webhook',
    async deliver(alert) {
      const body = JSON.stringify(alert);
      const timestamp = opts.clock.nowMs();
      await postJson({
        url,
        body,
        timeoutMs: opts.timeoutMs,
        egress: opts.egress,
        headers: { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: webhookSignature(opts.secret, timestamp, body) },
        ...(opts.ca ? { ca: opts.ca } : {}),
      });
    },
  };
}
