import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { newId } from '../../src/lib/ids.js';
import { SecurityMetrics } from '../../src/security/metrics/metrics.js';
import type { HttpsClient } from '../harness/client.js';
import { findOnPath } from '../harness/services.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, send } from '../fleet/agent-sim.js';
import { requestFrom, settle } from './helpers.js';

const TOKEN = randomBytes(24).toString('base64url');

/** The value of one sample in Prometheus text, or 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

describe('/metrics', () => {
  let t: TestServer;
  let admin: HttpsClient;
  const scrape = async () => {
    const res = await t.client().get('/metrics', { bearer: TOKEN, cookies: false });
    expect(res.status).toBe(200);
    return res.text;
  };
  /** How much each counter moved while `action` ran. */
  const delta = async (name: string, labels: string, action: () => Promise<unknown>) => {
    const before = sample(await scrape(), name, labels);
    await action();
    await settle(t);
    return sample(await scrape(), name, labels) - before;
  };

  beforeAll(async () => {
    // A tight per-IP login limit so a real 429 can be produced (other addresses stay clear of it).
    t = await startTestServer({ env: { FLOTILLA_METRICS_TOKEN: TOKEN, FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '2' } });
    admin = await adminClient(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 401 without the bearer token', async () => {
    const none = await t.client().get('/metrics', { cookies: false });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await t.client().get('/metrics', { bearer: `${TOKEN}x`, cookies: false })).status).toBe(401);
    expect((await t.client().get('/metrics', { bearer: 'short', cookies: false })).status).toBe(401);
    // An admin session is not a metrics token.
    expect((await admin.get('/metrics')).status).toBe(401);
  });

  it.skipIf(!findOnPath('promtool'))('passes promtool check metrics, with process metrics and the security metric names', async () => {
    await requestFrom(t, '127.0.0.20', 'POST', '/api/auth/login', { body: { username: 'ghost', password: 'Wrong-Password-3!' } });
    const text = await scrape();
    const checked = await promtool(text);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
    for (const name of [
      'flotilla_failed_logins_total',
      'flotilla_honey_token_triggered_total',
      'flotilla_unauthorized_access_total',
      'flotilla_admin_actions_total',
      'flotilla_rate_limited_total',
      'flotilla_blocked_requests_total',
      'flotilla_agents',
      'flotilla_reports_ingested_total',
      'flotilla_http_request_duration_seconds',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(text.split('\n').some((l) => l.startsWith(`# TYPE ${name} `)), name).toBe(true);
    }
  });

  it('counts failed logins and honey-account hits', async () => {
    expect(await delta('flotilla_failed_logins_total', '', () => requestFrom(t, '127.0.0.21', 'POST', '/api/auth/login', { body: { username: 'admin', password: 'Wrong-Password-4!' } }))).toBe(1);
    expect(await delta('flotilla_honey_token_triggered_total', '', () => requestFrom(t, '127.0.0.22', 'POST', '/api/auth/login', { body: { username: 'system_test', password: 'Anything-1-Goes!' } }))).toBe(1);
  });

  it('counts unauthorized access (401/403 outside login) and admin actions', async () => {
    expect(await delta('flotilla_unauthorized_access_total', '', () => t.client().get('/api/admin/users', { cookies: false }))).toBe(1);
    expect(await delta('flotilla_unauthorized_access_total', '', () => requestFrom(t, '127.0.0.23', 'POST', '/api/auth/login', { body: { username: 'x-user', password: 'Wrong-Password-5!' } }))).toBe(0);
    expect(await delta('flotilla_admin_actions_total', '', () => admin.send('POST', '/api/admin/users', { username: `metrics-${newId().slice(-6)}`, password: 'Created-User-Pass-5', role: 'viewer' }))).toBe(1);
    expect(await delta('flotilla_admin_actions_total', '', () => admin.get('/api/admin/users'))).toBe(0);
  });

  it('counts rate-limited and blocked requests from the perimeter', async () => {
    const fail = () => requestFrom(t, '127.0.0.24', 'POST', '/api/auth/login', { body: { username: 'ghost', password: 'Wrong-Password-6!' } });
    const limited = await delta('flotilla_rate_limited_total', '', async () => {
      for (let i = 0; i < 3; i++) await fail();
    });
    expect(limited).toBe(1);
    await t.server.services.perimeter.blocks.block('127.0.0.25', 'auth_failures', 1, 60_000);
    expect(await delta('flotilla_blocked_requests_total', 'reason="ip_blocked"', () => requestFrom(t, '127.0.0.25', 'GET', '/api/me'))).toBe(1);
  });

  it('counts ingested reports and agents by status', async () => {
    const client = t.client();
    const { token } = await createEnrollmentToken(admin);
    const agent = await enroll(client, token, facts({ hostname: 'metrics-host' }));
    const now = Date.now();
    expect(await delta('flotilla_reports_ingested_total', '', () => send(client, agent, [report(now - 1000), report(now)], now))).toBe(2);
    expect(sample(await scrape(), 'flotilla_agents', 'status="online"')).toBe(1);
  });

  it('labels request durations by route pattern, never by raw URL', async () => {
    const id = newId();
    await admin.get(`/api/admin/users/${id}`);
    const text = await scrape();
    expect(text).toMatch(/flotilla_http_request_duration_seconds_count\{method="GET",route="\/api\/admin\/users\/:id",status_code="404"\} 1/);
    expect(text).not.toContain(id);
  });
});

describe('metrics hook and registry', () => {
  it('counts through metrics.count() for the domains whose events live elsewhere, and never throws', async () => {
    const m = new SecurityMetrics();
    m.count('flotilla_rate_limited_total');
    m.count('flotilla_blocked_requests_total', { reason: 'geo_blocked' }, 2);
    m.count('flotilla_reports_ingested_total', {}, 5);
    m.count('flotilla_blocked_requests_total', { nope: 'x' }); // a bad label is swallowed, not thrown
    const text = await m.text();
    expect(sample(text, 'flotilla_rate_limited_total')).toBe(1);
    expect(sample(text, 'flotilla_blocked_requests_total', 'reason="geo_blocked"')).toBe(2);
    expect(sample(text, 'flotilla_reports_ingested_total')).toBe(5);
  });

  it('keeps one registry per instance (never the global one)', async () => {
    const a = new SecurityMetrics();
    const b = new SecurityMetrics();
    a.count('flotilla_failed_logins_total');
    expect(sample(await a.text(), 'flotilla_failed_logins_total')).toBe(1);
    expect(sample(await b.text(), 'flotilla_failed_logins_total')).toBe(0);
  });

  it('reads metrics.token from FLOTILLA_METRICS_TOKEN_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-metrics-'));
    try {
      writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
      const config = await loadConfig({ env: { FLOTILLA_METRICS_TOKEN_FILE: join(dir, 'token') }, overrides: { dataDir: dir } });
      expect(config.metrics.token).toBe(TOKEN);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
