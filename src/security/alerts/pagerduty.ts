import type { EgressGuard } from '../../protocol/egress.js';
import type { Alert } from './alerter.js';
import type { Channel } from './channel.js';
import { checkOutboundUrl, postJson } from './http-post.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface PagerDutyOptions {
  /** The Events API v2 integration key; it travels in the body only. */
  routingKey: string;
  url: string;
  /** Where the event comes from: this server's public host name. */
  source: string;
  timeoutMs: number;
  egress: Pick<EgressGuard, 'check'>;
  ca?: string;
}

/** Events API v2 limits: summary 1024 characters, dedup_key 255. */
const clip = (text: string, max: number): string => (text.length > max ? text.slice(0, max) : text);

/**
 * A trigger event. The dedup key is rule and subject, so PagerDuty folds a
 * repeat of the same alert into the open incident instead of paging again.
 */
export function pagerDutyEvent(alert: Alert, routingKey: string, source: string): Record<string, unknown> {
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: clip(`${alert.kind}:${alert.subject ?? '-'}`, 255),
    payload: {
      summary: clip(alert.summary, 1024),
      source,
      severity: alert.severity,
      timestamp: new Date(alert.at).toISOString(),
      component: 'flotilla',
      custom_details: { kind: alert.kind, subject: alert.subject, ...alert.detail },
    },
  };
}

export function pagerDutyChannel(opts: PagerDutyOptions): Channel {
  const url = checkOutboundUrl(opts.url, 'alerts.pagerduty.url');
  return {
    name: 'pagerduty',
    async deliver(alert) {
      const body = JSON.stringify(pagerDutyEvent(alert, opts.routingKey, opts.source));
      await postJson({ url, body, timeoutMs: opts.timeoutMs, egress: opts.egress, ...(opts.ca ? { ca: opts.ca } : {}) });
    },
  };
}
