import type { EgressGuard } from '../../protocol/egress.js';
import type { Alert } from './alerter.js';
import type { Channel } from './channel.js';
import { checkOutboundUrl, postJson } from './http-post.js';

export interface SlackOptions {
  /** The incoming-webhook URL: it is the credential, so it never reaches a log or an error. */
  url: string;
  timeoutMs: number;
  egress: Pick<EgressGuard, 'check'>;
  ca?: string;
}

/** Slack reads `<…>` as links and mentions (`<!channel>`); alert fields are shown as text only. */
const escapeSlack = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The message body: one line with severity, rule, summary and subject. */
export function slackMessage(alert: Alert): { text: string } {
  const subject = alert.subject ? ` (subject: ${alert.subject})` : '';
  return { text: escapeSlack(`[${alert.severity.toUpperCase()}] ${alert.kind}: ${alert.summary}${subject}`) };
}

export function slackChannel(opts: SlackOptions): Channel {
  const url = checkOutboundUrl(opts.url, 'alerts.slackWebhookUrl');
  return {
    name: 'slack',
    async deliver(alert) {
      await postJson({ url, body: JSON.stringify(slackMessage(alert)), timeoutMs: opts.timeoutMs, egress: opts.egress, ...(opts.ca ? { ca: opts.ca } : {}) });
    },
  };
}
