import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/security/alerts/alerter.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../src/security/alerts/webhook.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, seal } from '../fleet/agent-sim.js';
import { requestFrom, settle, waitFor } from './helpers.js';

const WEBHOOK_SECRET = randomBytes(24).toString('base64url');
const USER_PASSWORD = 'Detect-Me-Password-4';

interface Received {
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A webhook receiver on 127.0.0.1: the only place alerts go in tests. */
async function receiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/flotilla`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const alertsOf = (received: Received[], kind: string) => received.map((r) => JSON.parse(r.body) as Alert).filter((a) => a.kind === kind);

describe('detection rules and responses', () => {
  let t: TestServer;
  let admin: HttpsClient;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const audited = async (action: string) => (await admin.get(`/api/admin/audit?action=${action}&limit=500`)).json.items as Array<Record<string, unknown>>;
  const loginFrom = (ip: string, username: string, password = 'Wrong-Password-7!') => requestFrom(t, ip, 'POST', '/api/auth/login', { body: { username, password } });

  beforeAll(async () => {
    hook = await receiver();
    t = await startTestServer({
      env: {
        // Loopback is exempt by default (a local proxy); here the test addresses must be blockable.
        FLOTILLA_DETECTION_EXEMPT_CIDRS: '192.0.2.0/24',
        FLOTILLA_DETECTION_IP_FAILURE_LIMIT: '2',
        FLOTILLA_SECURITY_SUSPEND_AFTER_FAILURES: '2',
        FLOTILLA_SECURITY_MAX_LOGIN_ATTEMPTS: '50',
        FLOTILLA_ALERTS_WEBHOOK_URL: hook.url,
        // Every notification passes the egress guard: the local receiver must be allowlisted.
        FLOTILLA_PERIMETER_EGRESS_ALLOWED_NETWORKS: '127.0.0.0/8',
        FLOTILLA_ALERTS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    });
    admin = await adminClient(t);
  });
  afterAll(async () => {
    await t?.close();
    await hook?.close();
  });

  it('blocks an IP after more failed logins than the limit, alerts once, and an admin can lift it', async () => {
    for (const name of ['u1', 'u2']) expect((await loginFrom('127.0.0.31', name)).status).toBe(401);
    await settle(t);
    expect(await t.server.services.security.blocker.isBlocked('127.0.0.31')).toBe(false); // at the limit, not over

    for (const name of ['u1', 'u2', 'u3']) await loginFrom('127.0.0.30', name);
    await waitFor(() => t.server.services.security.blocker.isBlocked('127.0.0.30'), 'the block');
    const refused = await requestFrom(t, '127.0.0.30', 'GET', '/api/me');
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('ip_blocked');
    await settle(t);
    const blocked = (await audited('ip_blocked')).filter((e) => e.resourceId === '127.0.0.30');
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({ actorType: 'system', after: { rule: 'ip_failed_logins', count: 3, ttlSeconds: 3600 } });
    const alert = await waitFor(() => alertsOf(hook.received, 'ip_failed_logins')[0], 'the alert');
    expect(alert).toMatchObject({ severity: 'warning', subject: '127.0.0.30' });

    const listed = await admin.get('/api/admin/security/blocks');
    expect(listed.json.items.map((b: { ip: string }) => b.ip)).toContain('127.0.0.30');
    expect((await admin.send('DELETE', '/api/admin/security/blocks/127.0.0.30')).status).toBe(200);
    expect((await requestFrom(t, '127.0.0.30', 'GET', '/api/me')).status).toBe(401);
    await settle(t);
    const lifted = (await audited('ip_unblocked')).find((e) => e.resourceId === '127.0.0.30');
    expect(lifted).toMatchObject({ actorType: 'user', actorId: (await admin.get('/api/me')).json.user.id });
    expect(alertsOf(hook.received, 'ip_failed_logins')).toHaveLength(1);
  });

  it('signs every webhook body with HMAC-SHA256 over timestamp and body', async () => {
    const delivered = await waitFor(() => hook.received[0], 'a webhook');
    const timestamp = Number(delivered.headers[TIMESTAMP_HEADER]);
    expect(delivered.headers['content-type']).toBe('application/json');
    expect(delivered.headers[SIGNATURE_HEADER]).toBe(webhookSignature(WEBHOOK_SECRET, timestamp, delivered.body));
    expect(delivered.headers[SIGNATURE_HEADER]).not.toBe(webhookSignature(WEBHOOK_SECRET, timestamp, `${delivered.body} `));
  });

  it('a honey-account hit blocks the address and raises a critical alert', async () => {
    const res = await loginFrom('127.0.0.32', 'admin_backup', 'Guessed-Password-1!');
    expect(res.status).toBe(200); // the decoy looks like a success
    await waitFor(() => t.server.services.security.blocker.isBlocked('127.0.0.32'), 'the block');
    const alert = await waitFor(() => alertsOf(hook.received, 'honey_account')[0], 'the alert');
    expect(alert).toMatchObject({ severity: 'critical', subject: '127.0.0.32' });
    await settle(t);
    expect((await audited('ip_blocked')).find((e) => e.resourceId === '127.0.0.32')).toMatchObject({ after: { rule: 'honey_account', ttlSeconds: 86400 } });
    expect((await audited('honey_hit'))[0]).toMatchObject({ actorIp: '127.0.0.32', success: false });
  });

  it('a reused refresh token revokes every session of the user and alerts', async () => {
    const created = await admin.send('POST', '/api/admin/users', { username: 'reuse-victim', password: USER_PASSWORD, role: 'viewer' });
    expect(created.status).toBe(201);
    const first = (await t.client().post('/api/auth/token', { username: 'reuse-victim', password: USER_PASSWORD })).json;
    const other = (await t.client().post('/api/auth/token', { username: 'reuse-victim', password: USER_PASSWORD })).json;
    expect((await t.client().get('/api/me', { bearer: other.accessToken, cookies: false })).status).toBe(200);
    expect((await t.client().post('/api/auth/refresh', { refreshToken: first.refreshToken }, { cookies: false })).status).toBe(200);
    expect((await t.client().post('/api/auth/refresh', { refreshToken: first.refreshToken }, { cookies: false })).status).toBe(401);
    // The other session was not in the replayed family: the rule ends it too.
    await waitFor(async () => (await t.client().get('/api/me', { bearer: other.accessToken, cookies: false })).status === 401, 'the other session to end');
    const alert = await waitFor(() => alertsOf(hook.received, 'refresh_token_reuse')[0], 'the alert');
    expect(alert).toMatchObject({ severity: 'critical', subject: created.json.id });
    await settle(t);
    expect((await audited('sessions_revoked')).find((e) => e.resourceId === created.json.id)).toMatchObject({ actorType: 'system', after: { rule: 'refresh_token_reuse' } });
  });

  it('alerts when identity suspends an account after too many failures', async () => {
    const created = await admin.send('POST', '/api/admin/users', { username: 'suspend-victim', password: USER_PASSWORD, role: 'viewer' });
    for (const ip of ['127.0.0.40', '127.0.0.41', '127.0.0.42']) await loginFrom(ip, 'suspend-victim');
    const alert = await waitFor(() => alertsOf(hook.received, 'account_suspended')[0], 'the alert');
    expect(alert.subject).toBe(created.json.id);
    // Undone by an admin: reactivating the account.
    expect((await admin.send('PATCH', `/api/admin/users/${created.json.id}`, { status: 'active' })).json.status).toBe('active');
  });

  it('alerts when an agent key is used from a second address while the first is active', async () => {
    const { token } = await createEnrollmentToken(admin);
    const agent = await enroll(t.client(), token, facts({ hostname: 'two-homes' }));
    const sendFrom = (ip: string) => {
      const now = Date.now();
      return requestFrom(t, ip, 'POST', '/api/agent/report', { body: seal(agent, [report(now)], { ts: now }), bearer: agent.apiKey });
    };
    expect((await sendFrom('127.0.0.50')).status).toBe(200);
    expect((await sendFrom('127.0.0.50')).status).toBe(200);
    await settle(t);
    expect(alertsOf(hook.received, 'agent_key_second_ip')).toHaveLength(0);
    expect((await sendFrom('127.0.0.51')).status).toBe(200);
    const alert = await waitFor(() => alertsOf(hook.received, 'agent_key_second_ip')[0], 'the alert');
    expect(alert.subject).toBe(agent.agentId);
    await settle(t);
    expect((await audited('agent_ip_changed'))[0]).toMatchObject({ actorType: 'agent', actorId: agent.agentId, actorIp: '127.0.0.51', after: { ip: '127.0.0.51', previousIp: '127.0.0.50' } });
  });

  it('lists automatic actions among the security events', async () => {
    const actions = new Set((await admin.get('/api/admin/security/events?limit=500')).json.items.map((e: { action: string }) => e.action));
    for (const a of ['login_failed', 'ip_blocked', 'ip_unblocked', 'honey_hit', 'refresh_token_reused', 'sessions_revoked', 'account_suspended', 'agent_ip_changed', 'alert_raised']) expect(actions.has(a), a).toBe(true);
  });
});

describe('exempt addresses', () => {
  it('never blocks an address in detection.exemptCidrs (loopback by default)', async () => {
    const t = await startTestServer({ env: { FLOTILLA_DETECTION_IP_FAILURE_LIMIT: '1' } });
    try {
      for (const name of ['a1', 'a2', 'a3']) await requestFrom(t, '127.0.0.60', 'POST', '/api/auth/login', { body: { username: name, password: 'Wrong-Password-8!' } });
      await settle(t);
      expect(await t.server.services.security.blocker.isBlocked('127.0.0.60')).toBe(false);
    } finally {
      await t.close();
    }
  });
});
