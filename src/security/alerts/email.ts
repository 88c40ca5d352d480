import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import type { EgressGuard } from '../../protocol/egress.js';
import type { Alert } from './alerter.js';
import { DeliveryError, type Channel } from './channel.js';

export type SmtpTlsMode = 'starttls' | 'implicit';

export interface EmailOptions {
  host: string;
  port: number;
  /** `starttls` (submission, 587): a server that does not offer STARTTLS is refused. `implicit`: TLS from the first byte (465). */
  tlsMode: SmtpTlsMode;
  username?: string;
  password?: string;
  from: string;
  to: readonly string[];
  /** For the whole attempt: connect, TLS, login and the message. */
  timeoutMs: number;
  egress: Pick<EgressGuard, 'check'>;
  /** Extra trust anchors (PEM) for a relay with a private CA; default the system roots. */
  ca?: string;
}

const MAX_SUBJECT = 200;

/** Control characters (CR and LF above all) become a space: no field can start a header or a line of its own. */
const oneLine = (text: string): string => text.replace(/\p{Cc}+/gu, ' ').trim();

/** Subject and plain-text body of an alert mail. */
export function emailMessage(alert: Alert): { subject: string; text: string } {
  const subject = oneLine(`[Flotilla] ${alert.severity.toUpperCase()} ${alert.kind}: ${alert.summary}`).slice(0, MAX_SUBJECT);
  const lines = [
    oneLine(alert.summary),
    '',
    `Severity: ${alert.severity}`,
    `Rule: ${oneLine(alert.kind)}`,
    `Subject: ${oneLine(alert.subject ?? '-')}`,
    `Time: ${new Date(alert.at).toISOString()}`,
    ...Object.entries(alert.detail ?? {}).map(([key, value]) => `${oneLine(key)}: ${oneLine(String(value))}`),
  ];
  return { subject, text: `${lines.join('\n')}\n` };
}

/** The URL form the egress guard checks: the same host and port, resolved and vetted once. */
function egressUrlOf(host: string, port: number): URL {
  const url = new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`);
  if (url.hostname.replace(/^\[(.*)\]$/, '$1') !== host.toLowerCase()) throw new Error('alerts.email.host is not a host name or address');
  return url;
}

/**
 * Sends each alert as a plain-text mail over SMTP with TLS required. The host
 * goes through the egress guard and the connection is made to the checked
 * address, with the configured name for SNI and certificate verification.
 */
export function emailChannel(opts: EmailOptions): Channel {
  const probe = egressUrlOf(opts.host, opts.port);
  const named = isIP(opts.host) === 0;
  return {
    name: 'email',
    async deliver(alert) {
      const target = await opts.egress.check(probe);
      const transport = nodemailer.createTransport({
        host: target.address,
        port: target.port,
        secure: opts.tlsMode === 'implicit',
        // Never plaintext: refuse a server that does not offer STARTTLS (or strips it).
        requireTLS: opts.tlsMode === 'starttls',
        ...(named ? { servername: opts.host } : {}),
        tls: { minVersion: 'TLSv1.2', rejectUnauthorized: true, ...(named ? { servername: opts.host } : {}), ...(opts.ca ? { ca: opts.ca } : {}) },
        ...(opts.username ? { auth: { user: opts.username, pass: opts.password ?? '' } } : {}),
        connectionTimeout: opts.timeoutMs,
        greetingTimeout: opts.timeoutMs,
        socketTimeout: opts.timeoutMs,
        logger: false,
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const { subject, text } = emailMessage(alert);
      const deadline = AbortSignal.timeout(opts.timeoutMs);
      try {
        await transport.sendMail({ from: opts.from, to: [...opts.to], subject, text, signal: deadline });
      } catch (err) {
        if (deadline.aborted) throw new DeliveryError('timeout');
        throw err;
      } finally {
        transport.close();
      }
    },
  };
}
