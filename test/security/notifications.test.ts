import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV_KEYS } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { createEgressGuard, EgressError } from '../../src/protocol/egress.js';
import type { Alert } from '../../src/security/alerts/alerter.js';
import type { Channel } from '../../src/security/alerts/channel.js';
import { emailChannel, type EmailOptions } from '../../src/security/alerts/email.js';
import { checkOutboundUrl } from '../../src/security/alerts/http-post.js';
import { backgroundNotifier, backoffDelayMs, type DeliveryOutcome, type RetryPolicy } from '../../src/security/alerts/notifier.js';
import { pagerDutyChannel } from '../../src/security/alerts/pagerduty.js';
import { slackChannel } from '../../src/security/alerts/slack.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookChannel, webhookSignature } from '../../src/security/alerts/webhook.js';
import { createLogger } from '../../src/server/logger.js';
import type { ServerCertificate } from '../../src/server/tls.js';
import { certificateFor } from '../agent/fake-server.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { requestFrom, settle, waitFor } from './helpers.js';

// Every receiver here listens on loopback; the guard lets loopback through only where a test allowlists it.
const LOOPBACK = ['127.0.0.0/8', '::1/128'];
const guard = createEgressGuard({ allowedNetworks: LOOPBACK });
const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
const alert: Alert = {
  kind: 'honey_account',
  severity: 'critical',
  summary: 'a honey account was used; its address is blocked unless exempt',
  at: clock.nowMs(),
  subject: '203.0.113.9',
  detail: { action: 'honey_hit', ip: '203.0.113.9' },
};

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What a receiver does with its n-th request (0-based): answer, or keep the connection open without a word. */
type Answer = (n: number) => { status: number; body?: string } | 'hang';

interface Receiver {
  url: string;
  hits: Hit[];
  /** Requests received and not answered yet. */
  readonly hanging: number;
  /** Answers every request held so far with this status. */
  release(status: number): void;
  close(): Promise<void>;
}

/** localhost's first address, where the guard sends a name-addressed request. */
const localhostAddress = async (): Promise<string> => (await lookup('localhost', { verbatim: true })).address;

/** A JSON receiver on loopback; over TLS (a certificate naming only `localhost`) when given one. */
async function httpReceiver(answer: Answer = () => ({ status: 200 }), opts: { cert?: ServerCertificate; path?: string } = {}): Promise<Receiver> {
  const hits: Hit[] = [];
  const held: http.ServerResponse[] = [];
  const handler: http.RequestListener = (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, body });
      const reply = answer(hits.length - 1);
      if (reply === 'hang') {
        held.push(res);
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body ?? '');
    });
  };
  const server = opts.cert ? https.createServer({ cert: opts.cert.certPem, key: opts.cert.keyPem }, handler) : http.createServer(handler);
  const host = opts.cert ? await localhostAddress() : '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.cert ? 'https://localhost' : 'http://127.0.0.1'}:${port}${opts.path ?? '/hook'}`,
    hits,
    get hanging() {
      return held.filter((res) => !res.writableEnded && !res.destroyed).length;
    },
    release(status) {
      for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(status).end();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface ReceivedMail {
  from: string | null;
  to: string[];
  raw: string;
  /** The session had been upgraded to TLS when the message came. */
  secure: boolean;
  user: string | undefined;
}

interface SmtpReceiver {
  port: number;
  mails: ReceivedMail[];
  logins: Array<{ username: string; secure: boolean }>;
  /** Server names the clients asked for in the TLS handshake. */
  sni: string[];
  close(): Promise<void>;
}

/** A local SMTP server offering STARTTLS (unless told not to) with the given certificate; accepts one user. */
async function smtpReceiver(cert: ServerCertificate, opts: { starttls?: boolean; username: string; password: string }): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const logins: SmtpReceiver['logins'] = [];
  const sni: string[] = [];
  const server = new SMTPServer({
    secure: false,
    key: cert.keyPem,
    cert: cert.certPem,
    logger: false,
    authOptional: true,
    // Without STARTTLS the server would otherwise also refuse AUTH; here it must be the client that refuses.
    allowInsecureAuth: opts.starttls === false,
    disabledCommands: opts.starttls === false ? ['STARTTLS'] : [],
    SNICallback: (servername: string, cb: (err: Error | null, ctx?: ReturnType<typeof createSecureContext>) => void) => {
      sni.push(servername);
      cb(null, createSecureContext({ key: cert.keyPem, cert: cert.certPem }));
    },
    onAuth(auth, session, cb) {
      logins.push({ username: auth.username ?? '', secure: session.secure });
      // A careless server that quotes the password back: the client must not pass that on to its log.
      if (auth.username !== opts.username || auth.password !== opts.password) return cb(new Error(`authentication failed for password ${auth.password ?? ''}`));
      cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        mails.push({ from: mailFrom ? mailFrom.address : null, to: rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), secure: session.secure, user: session.user as string | undefined });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.server.address() as AddressInfo).port, mails, logins, sni, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The unfolded header of a raw message, or null. */
function header(raw: string, name: string): string | null {
  const head = raw.split('\r\n\r\n')[0]?.replace(/\r\n[ \t]+/g, ' ') ?? '';
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line ? line.slice(name.length + 1).trim() : null;
}

/** The text body, quoted-printable decoded when it is. */
function bodyOf(raw: string): string {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  if (!/quoted-printable/i.test(header(raw, 'content-transfer-encoding') ?? '')) return body;
  return body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

describe('notification channels against local receivers', () => {
  let cert: ServerCertificate;
  beforeAll(async () => {
    cert = await certificateFor('localhost');
  });

  it('signs the generic webhook body with HMAC-SHA256 over timestamp and body', async () => {
    const hook = await httpReceiver();
    const secret = randomBytes(24).toString('base64url');
    try {
      await webhookChannel({ url: hook.url, secret, timeoutMs: 2000, clock, egress: guard }).deliver(alert);
      const [hit] = hook.hits;
      expect(hit?.body).toBe(JSON.stringify(alert));
      expect(hit?.headers['content-type']).toBe('application/json');
      expect(hit?.headers[TIMESTAMP_HEADER]).toBe(String(clock.nowMs()));
      expect(hit?.headers[SIGNATURE_HEADER]).toBe(webhookSignature(secret, clock.nowMs(), hit?.body ?? ''));
      expect(webhookSignature(secret, clock.nowMs(), `${hit?.body} `)).not.toBe(hit?.headers[SIGNATURE_HEADER]);
    } finally {
      await hook.close();
    }
  });

  it('posts the Slack message over TLS to the checked address, verifying the certificate by name', async () => {
    const slack = await httpReceiver(() => ({ status: 200, body: 'ok' }), { cert, path: '/services/T0001/B0002/slackpathsecret' });
    try {
      const hostile: Alert = { ...alert, summary: 'ping <!channel> & <https://evil.example|click>' };
      await slackChannel({ url: slack.url, timeoutMs: 2000, egress: guard, ca: cert.certPem }).deliver(hostile);
      expect(slack.hits[0]?.path).toBe('/services/T0001/B0002/slackpathsecret');
      expect(slack.hits[0]?.headers.host).toBe(new URL(slack.url).host);
      // Alert fields cannot mention the channel or make links.
      expect(slack.hits[0]?.body).toBe(JSON.stringify({ text: '[CRITICAL] honey_account: ping &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; (subject: 203.0.113.9)' }));
      // Without the CA the self-signed receiver is refused: the certificate is checked.
      await expect(slackChannel({ url: slack.url, timeoutMs: 2000, egress: guard }).deliver(alert)).rejects.toThrow();
      expect(slack.hits).toHaveLength(1);
    } finally {
      await slack.close();
    }
  });

  it('sends a PagerDuty Events API v2 trigger with the routing key in the body', async () => {
    const pd = await httpReceiver(() => ({ status: 202, body: '{"status":"success","message":"Event processed"}' }), { path: '/v2/enqueue' });
    const routingKey = `R0${randomBytes(15).toString('hex')}`;
    try {
      await pagerDutyChannel({ routingKey, url: pd.url, source: 'fleet.example.com', timeoutMs: 2000, egress: guard }).deliver(alert);
      expect(pd.hits[0]?.path).toBe('/v2/enqueue');
      expect(JSON.parse(pd.hits[0]?.body ?? '')).toEqual({
        routing_key: routingKey,
        event_action: 'trigger',
        dedup_key: 'honey_account:203.0.113.9',
        payload: {
          summary: alert.summary,
          source: 'fleet.example.com',
          severity: 'critical',
          timestamp: '2026-11-26T12:00:00.000Z',
          component: 'flotilla',
          custom_details: { kind: 'honey_account', subject: '203.0.113.9', action: 'honey_hit', ip: '203.0.113.9' },
        },
      });
    } finally {
      await pd.close();
    }
  });

  describe('email over SMTP', () => {
    const password = `smtp-${randomBytes(12).toString('hex')}`;
    const base = (port: number, extra: Partial<EmailOptions> = {}): EmailOptions => ({
      host: 'localhost',
      port,
      tlsMode: 'starttls',
      username: 'flotilla',
      password,
      from: 'flotilla@fleet.example.com',
      to: ['oncall@example.com', 'sec@example.com'],
      timeoutMs: 3000,
      egress: guard,
      ca: cert.certPem,
      ...extra,
    });
    let smtp: SmtpReceiver;
    beforeAll(async () => {
      smtp = await smtpReceiver(cert, { username: 'flotilla', password });
    });
    afterAll(async () => {
      await smtp?.close();
    });

    it('upgrades with STARTTLS, logs in only then, and delivers the alert mail', async () => {
      await emailChannel(base(smtp.port)).deliver(alert);
      const mail = smtp.mails.at(-1);
      expect(mail).toMatchObject({ from: 'flotilla@fleet.example.com', to: ['oncall@example.com', 'sec@example.com'], secure: true, user: 'flotilla' });
      expect(smtp.logins.at(-1)).toEqual({ username: 'flotilla', secure: true });
      expect(smtp.sni).toContain('localhost');
      const raw = mail?.raw ?? '';
      expect(header(raw, 'from')).toBe('flotilla@fleet.example.com');
      expect(header(raw, 'to')).toBe('oncall@example.com, sec@example.com');
      expect(header(raw, 'subject')).toBe('[Flotilla] CRITICAL honey_account: a honey account was used; its address is blocked unless exempt');
      expect(bodyOf(raw)).toContain(
        [alert.summary, '', 'Severity: critical', 'Rule: honey_account', 'Subject: 203.0.113.9', 'Time: 2026-11-26T12:00:00.000Z', 'action: honey_hit', 'ip: 203.0.113.9'].join('\r\n'),
      );
    });

    it('keeps CR/LF in alert fields from adding headers or recipients', async () => {
      const before = smtp.mails.length;
      const injected: Alert = { ...alert, summary: 'spoofed\r\nBcc: attacker@evil.example\r\n\r\nfake body', subject: 'x\nReply-To: attacker@evil.example' };
      await emailChannel(base(smtp.port)).deliver(injected);
      const mail = smtp.mails[before];
      expect(mail?.to).toEqual(['oncall@example.com', 'sec@example.com']);
      expect(header(mail?.raw ?? '', 'bcc')).toBeNull();
      expect(header(mail?.raw ?? '', 'reply-to')).toBeNull();
      expect(header(mail?.raw ?? '', 'subject')).toBe('[Flotilla] CRITICAL honey_account: spoofed Bcc: attacker@evil.example fake body');
      expect(bodyOf(mail?.raw ?? '')).toContain('Subject: x Reply-To: attacker@evil.example\r\n');
    });

    it('refuses a server without STARTTLS before sending the password', async () => {
      const plain = await smtpReceiver(cert, { starttls: false, username: 'flotilla', password });
      try {
        await expect(emailChannel(base(plain.port)).deliver(alert)).rejects.toMatchObject({ code: 'ETLS' });
        expect(plain.logins).toEqual([]);
        expect(plain.mails).toEqual([]);
      } finally {
        await plain.close();
      }
    });

    it('refuses a relay whose certificate is not trusted', async () => {
      const before = smtp.mails.length;
      const { ca: _ca, ...untrusted } = base(smtp.port);
      await expect(emailChannel(untrusted).deliver(alert)).rejects.toThrow(/self-signed certificate/);
      expect(smtp.mails).toHaveLength(before);
    });
  });

  describe('egress guard', () => {
    const closed = createEgressGuard();

    it('refuses a loopback or private target that is not allowlisted, before any connection', async () => {
      const hook = await httpReceiver();
      const smtp = await smtpReceiver(cert, { username: 'u', password: 'p' });
      try {
        await expect(webhookChannel({ url: hook.url, secret: 'x'.repeat(16), timeoutMs: 1000, clock, egress: closed }).deliver(alert)).rejects.toThrow(EgressError);
        await expect(slackChannel({ url: hook.url, timeoutMs: 1000, egress: closed }).deliver(alert)).rejects.toThrow(EgressError);
        await expect(pagerDutyChannel({ routingKey: 'k', url: hook.url, source: 's', timeoutMs: 1000, egress: closed }).deliver(alert)).rejects.toThrow(EgressError);
        await expect(slackChannel({ url: 'https://10.0.0.1/services/x', timeoutMs: 1000, egress: closed }).deliver(alert)).rejects.toThrow(/refused/);
        const mail = { port: smtp.port, tlsMode: 'starttls', from: 'a@b.example', to: ['c@d.example'], timeoutMs: 1000, egress: closed } as const;
        await expect(emailChannel({ ...mail, host: 'localhost' }).deliver(alert)).rejects.toThrow(EgressError);
        await expect(emailChannel({ ...mail, host: '169.254.169.254' }).deliver(alert)).rejects.toThrow(/metadata/);
        // Port 25 stays refused even where loopback is allowed.
        await expect(emailChannel({ ...mail, host: '127.0.0.1', port: 25, egress: guard }).deliver(alert)).rejects.toThrow(/port 25/);
        expect(hook.hits).toEqual([]);
        expect(smtp.logins).toEqual([]);
      } finally {
        await hook.close();
        await smtp.close();
      }
    });

    it('checks channel URLs at start-up: https, plain http only to loopback, no credentials', () => {
      expect(() => checkOutboundUrl('http://hooks.example.com/x', 'alerts.slackWebhookUrl')).toThrow(/alerts.slackWebhookUrl must use https/);
      expect(() => checkOutboundUrl('https://user:pw@hooks.example.com/x', 'alerts.webhookUrl')).toThrow(/user name or password/);
      expect(() => checkOutboundUrl('not a url', 'alerts.pagerduty.url')).toThrow(/alerts.pagerduty.url is not a valid URL/);
      expect(() => checkOutboundUrl('ftp://hooks.example.com/x', 'alerts.webhookUrl')).toThrow(/https/);
      expect(checkOutboundUrl('http://127.0.0.1:9/x', 'alerts.webhookUrl').hostname).toBe('127.0.0.1');
      expect(checkOutboundUrl('https://hooks.slack.com/services/T/B/x', 'alerts.slackWebhookUrl').pathname).toBe('/services/T/B/x');
    });
  });
});

describe('notification settings', () => {
  it('has secure defaults and marks every channel credential secret (…_FILE, never echoed)', async () => {
    const { alerts } = await loadConfig({ env: {} });
    expect(alerts).toMatchObject({ pagerduty: { url: 'https://events.pagerduty.com/v2/enqueue' }, timeoutMs: 10000, retry: { attempts: 4, baseDelayMs: 2000, maxDelayMs: 60000 } });
    expect(alerts.email).toBeUndefined();
    const secretKeys = CONFIG_ENV_KEYS.filter((k) => k.path[0] === 'alerts' && k.secret).map((k) => k.path.join('.'));
    expect(secretKeys.sort()).toEqual(['alerts.email.password', 'alerts.pagerduty.routingKey', 'alerts.slackWebhookUrl', 'alerts.webhookSecret']);
    const email = (await loadConfig({ env: { FLOTILLA_ALERTS_EMAIL_HOST: 'smtp.example.com', FLOTILLA_ALERTS_EMAIL_FROM: 'f@example.com', FLOTILLA_ALERTS_EMAIL_TO: 'a@example.com, b@example.com' } })).alerts.email;
    expect(email).toEqual({ host: 'smtp.example.com', port: 587, tlsMode: 'starttls', from: 'f@example.com', to: ['a@example.com', 'b@example.com'] });
  });

  it('refuses addresses that could smuggle headers and modes without TLS', async () => {
    const base = { FLOTILLA_ALERTS_EMAIL_HOST: 'smtp.example.com', FLOTILLA_ALERTS_EMAIL_FROM: 'f@example.com', FLOTILLA_ALERTS_EMAIL_TO: 'a@example.com' };
    await expect(loadConfig({ env: { ...base, FLOTILLA_ALERTS_EMAIL_TO: 'a@example.com\r\nBcc: x@evil.example' } })).rejects.toThrow(/alerts.email.to/);
    await expect(loadConfig({ env: { ...base, FLOTILLA_ALERTS_EMAIL_FROM: 'Evil <f@example.com>' } })).rejects.toThrow(/alerts.email.from/);
    await expect(loadConfig({ env: { ...base, FLOTILLA_ALERTS_EMAIL_TLS_MODE: 'none' } })).rejects.toThrow(/alerts.email.tlsMode/);
  });

  it('stops start-up on a plain-http channel URL, naming the key but not the URL', async () => {
    const url = 'http://hooks.example.com/services/T0/B0/startupsecretpath';
    const failed = await startTestServer({ env: { FLOTILLA_ALERTS_SLACK_WEBHOOK_URL: url } }).then(
      (t) => t.close().then(() => null),
      (err: Error) => err,
    );
    expect(failed?.message).toMatch(/alerts.slackWebhookUrl must use https/);
    expect(failed?.message).not.toContain('startupsecretpath');
  });
});

describe('background delivery with retries', () => {
  const policy: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 1000 };

  it('backs off exponentially with jitter, capped', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, () => 0))).toEqual([10, 20, 40, 80]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, () => 1))).toEqual([20, 40, 80, 160]);
    expect(backoffDelayMs(12, policy, () => 1)).toBe(1000);
  });

  it('retries a failing channel with backoff and delivers it once', async () => {
    const pd = await httpReceiver((n) => (n < 3 ? { status: 503 } : { status: 202 }));
    const outcomes: DeliveryOutcome[] = [];
    const waits: number[] = [];
    const notifier = backgroundNotifier([pagerDutyChannel({ routingKey: 'key', url: pd.url, source: 's', timeoutMs: 2000, egress: guard })], {
      retry: policy,
      onOutcome: (o) => outcomes.push(o),
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    try {
      await notifier.send(alert);
      await notifier.idle();
      expect(pd.hits).toHaveLength(4);
      expect(new Set(pd.hits.map((h) => h.body)).size).toBe(1);
      expect(outcomes).toEqual([{ channel: 'pagerduty', alert, delivered: true, attempts: 4, reason: null }]);
      expect(waits).toHaveLength(3);
      waits.forEach((ms, i) => {
        const ceiling = policy.baseDelayMs * 2 ** i;
        expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
        expect(ms).toBeLessThanOrEqual(ceiling);
      });
    } finally {
      await notifier.close();
      await pd.close();
    }
  });

  it('gives up after the last attempt, and at once on an answer retrying cannot change', async () => {
    const down = await httpReceiver(() => ({ status: 500 }));
    const wrong = await httpReceiver(() => ({ status: 400, body: '{"status":"invalid event"}' }));
    const outcomes: DeliveryOutcome[] = [];
    const notifier = backgroundNotifier(
      [slackChannel({ url: down.url, timeoutMs: 2000, egress: guard }), pagerDutyChannel({ routingKey: 'key', url: wrong.url, source: 's', timeoutMs: 2000, egress: guard })],
      { retry: { ...policy, baseDelayMs: 1 }, onOutcome: (o) => outcomes.push(o) },
    );
    try {
      await notifier.send(alert);
      await notifier.idle();
      expect(down.hits).toHaveLength(4);
      expect(wrong.hits).toHaveLength(1);
      expect(outcomes.map(({ channel, delivered, attempts, reason }) => ({ channel, delivered, attempts, reason })).sort((a, b) => a.channel.localeCompare(b.channel))).toEqual([
        { channel: 'pagerduty', delivered: false, attempts: 1, reason: 'http_400' },
        { channel: 'slack', delivered: false, attempts: 4, reason: 'http_500' },
      ]);
    } finally {
      await notifier.close();
      await down.close();
      await wrong.close();
    }
  });

  it('send() returns while a channel hangs, and a hanging channel does not hold up another', async () => {
    const hang = await httpReceiver(() => 'hang');
    const fine: Alert[] = [];
    const quick: Channel = { name: 'quick', deliver: async (a) => void fine.push(a) };
    const outcomes: DeliveryOutcome[] = [];
    const notifier = backgroundNotifier([webhookChannel({ url: hang.url, secret: 's'.repeat(16), timeoutMs: 300, clock, egress: guard }), quick], {
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      onOutcome: (o) => outcomes.push(o),
    });
    try {
      await notifier.send(alert);
      await waitFor(() => hang.hanging === 1, 'the receiver to hold the request');
      expect(outcomes).toEqual([{ channel: 'quick', alert, delivered: true, attempts: 1, reason: null }]);
      expect(fine).toEqual([alert]);
      await notifier.idle();
      expect(outcomes[1]).toMatchObject({ channel: 'webhook', delivered: false, attempts: 1, reason: 'timeout' });
    } finally {
      await notifier.close();
      await hang.close();
    }
  });
});

describe('notifications through the server', () => {
  const webhookSecret = randomBytes(24).toString('base64url');
  const routingKey = `RK${randomBytes(15).toString('hex')}`;
  const smtpPassword = `pw-${randomBytes(12).toString('hex')}`;
  const slackPath = `/services/T0001/B0002/${randomBytes(12).toString('hex')}`;
  const logLines: string[] = [];
  let t: TestServer;
  let hook: Receiver;
  let slack: Receiver;
  let pd: Receiver;
  let smtp: SmtpReceiver;
  let caFile: string;
  let openGate: () => void;

  let auditAs: (action: string) => Promise<Array<Record<string, unknown>>>;

  beforeAll(async () => {
    const cert = await certificateFor('localhost');
    // Holds every request until the test lets it answer; from then on it answers 503.
    const gate = { open: false };
    hook = await httpReceiver(() => (gate.open ? { status: 503 } : 'hang'));
    openGate = () => {
      gate.open = true;
      hook.release(503);
    };
    slack = await httpReceiver(() => ({ status: 200, body: 'ok' }), { path: slackPath });
    // A receiver that quotes the request back in its error answer.
    pd = await httpReceiver(() => ({ status: 400, body: JSON.stringify({ status: 'invalid event', echo: routingKey }) }), { path: '/v2/enqueue' });
    // The server knows another password: every login fails, and the server quotes the password it got.
    smtp = await smtpReceiver(cert, { username: 'flotilla', password: 'not-the-configured-one' });
    caFile = join(mkdtempSync(join(tmpdir(), 'flotilla-notify-')), 'ca.pem');
    writeFileSync(caFile, cert.certPem);
    t = await startTestServer({
      log: createLogger('debug', { write: (line: string) => void logLines.push(line) }),
      env: {
        FLOTILLA_PERIMETER_EGRESS_ALLOWED_NETWORKS: '127.0.0.0/8',
        FLOTILLA_ALERTS_WEBHOOK_URL: hook.url,
        FLOTILLA_ALERTS_WEBHOOK_SECRET: webhookSecret,
        FLOTILLA_ALERTS_SLACK_WEBHOOK_URL: slack.url,
        FLOTILLA_ALERTS_PAGERDUTY_ROUTING_KEY: routingKey,
        FLOTILLA_ALERTS_PAGERDUTY_URL: pd.url,
        FLOTILLA_ALERTS_EMAIL_HOST: 'localhost',
        FLOTILLA_ALERTS_EMAIL_PORT: String(smtp.port),
        FLOTILLA_ALERTS_EMAIL_USERNAME: 'flotilla',
        FLOTILLA_ALERTS_EMAIL_PASSWORD: smtpPassword,
        FLOTILLA_ALERTS_EMAIL_FROM: 'flotilla@fleet.example.com',
        FLOTILLA_ALERTS_EMAIL_TO: 'oncall@example.com',
        FLOTILLA_ALERTS_EMAIL_CA_FILE: caFile,
        FLOTILLA_ALERTS_TIMEOUT_MS: '2000',
        FLOTILLA_ALERTS_RETRY_ATTEMPTS: '2',
        FLOTILLA_ALERTS_RETRY_BASE_DELAY_MS: '10',
      },
    });
    const admin = await adminClient(t);
    auditAs = async (action) => (await admin.get(`/api/admin/audit?action=${action}&limit=500`)).json.items as Array<Record<string, unknown>>;
  });
  afterAll(async () => {
    await t?.close();
    for (const r of [hook, slack, pd]) await r?.close();
    await smtp?.close();
  });

  it('a hanging channel never blocks the request that raised the alert; each outcome is audited', async () => {
    const honey = (ip: string) => requestFrom(t, ip, 'POST', '/api/auth/login', { body: { username: 'admin_backup', password: 'Guessed-Password-1!' } });
    expect((await honey('127.0.0.70')).status).toBe(200);
    await waitFor(() => hook.hanging === 1, 'the webhook receiver to hold the first alert');
    // While the receiver holds the first alert, a second trigger is answered all the same and alerts again.
    expect((await honey('127.0.0.71')).status).toBe(200);
    expect(hook.hanging).toBeGreaterThanOrEqual(1);
    await waitFor(() => hook.hits.some((h) => JSON.parse(h.body).subject === '127.0.0.71'), 'the second webhook attempt');
    await waitFor(() => slack.hits.length === 2, 'both Slack messages');
    await settle(t);
    expect((await auditAs('alert_notified')).filter((e) => e.resourceId === 'webhook')).toEqual([]);
    openGate();
    expect(JSON.parse(slack.hits[0]?.body ?? '')).toEqual({ text: '[CRITICAL] honey_account: a honey account was used; its address is blocked unless exempt (subject: 127.0.0.70)' });

    const outcomes = await waitFor(async () => {
      await settle(t);
      const entries = await auditAs('alert_notified');
      return entries.length === 8 ? entries : null;
    }, 'an audited outcome per alert and channel', 10_000);
    const summary = outcomes
      .filter((e) => (e.after as { subject: string }).subject === '127.0.0.70')
      .map((e) => ({ resourceType: e.resourceType, resourceId: e.resourceId, success: e.success, error: e.error, count: (e.after as { count: number }).count }))
      .sort((a, b) => String(a.resourceId).localeCompare(String(b.resourceId)));
    expect(summary).toEqual([
      { resourceType: 'notification_channel', resourceId: 'email', success: false, error: 'eauth', count: 1 },
      { resourceType: 'notification_channel', resourceId: 'pagerduty', success: false, error: 'http_400', count: 1 },
      { resourceType: 'notification_channel', resourceId: 'slack', success: true, error: null, count: 1 },
      { resourceType: 'notification_channel', resourceId: 'webhook', success: false, error: 'http_503', count: 2 },
    ]);
    expect(outcomes[0]).toMatchObject({ actorType: 'system', after: { kind: 'honey_account', severity: 'critical' } });
    // The login itself went over TLS to the relay and was refused there.
    expect(smtp.logins.every((l) => l.secure)).toBe(true);
    expect(smtp.mails).toEqual([]);
  });

  it('never writes a channel secret to the server log, the security log or the audit log', async () => {
    await settle(t);
    const failures = logLines.map((l) => JSON.parse(l) as { msg: string; channel?: string }).filter((l) => l.msg === 'alert not delivered');
    expect(new Set(failures.map((l) => l.channel))).toEqual(new Set(['webhook', 'pagerduty', 'email']));
    const securityLog = readFileSync(join(t.config.dataDir, 'logs', 'security.log'), 'utf8');
    expect(securityLog).toContain('event=alert_notified');
    const audit = JSON.stringify(await auditAs('alert_notified'));
    for (const secret of [routingKey, smtpPassword, slackPath, webhookSecret]) {
      for (const [where, text] of [['server log', logLines.join('\n')], ['security log', securityLog], ['audit', audit]] as const) {
        expect(text.includes(secret), `${where} holds a secret`).toBe(false);
      }
    }
  });
});
