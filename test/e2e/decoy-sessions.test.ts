import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { HttpsClient, Reply } from '../harness/client.js';
import { modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, send } from '../fleet/agent-sim.js';
import { claimsOf, enrollTotp, PERIMETER_RELAXED, totpNow } from './mfa-helpers.js';

const IDLE_SECONDS = 600;

interface OpenStream {
  status: number;
  headers: Record<string, unknown>;
  events: Array<{ event: string; data: Record<string, unknown> }>;
  ended: Promise<void>;
  close(): void;
}

/** Opens the live stream with a client's cookies and collects its events until it ends or is closed. */
function openStream(t: TestServer, client: HttpsClient): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const cookie = [...client.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const req = https.request(
      { host: '127.0.0.1', port: t.server.port, path: '/api/fleet/events', method: 'GET', headers: { cookie }, ca: t.server.certificate.certPem, servername: 'localhost' },
      (res) => {
        let text = '';
        const events: OpenStream['events'] = [];
        const ended = new Promise<void>((done) => res.once('end', done).once('close', done));
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          let end: number;
          while ((end = text.indexOf('\n\n')) >= 0) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) });
          }
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, events, ended, close: () => req.destroy() });
      },
    );
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

async function waitFor<T>(check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const keys = (value: unknown) => Object.keys(value as object).sort();

// Decoy state lives in the KV alone: the in-process store, and Redis in cluster mode.
for (const { mode, available } of modes()) {
describe.skipIf(!available)(`decoy sessions behave like real sessions (${mode})`, () => {
  let t: TestServer;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 5));
  const events: IdentityEvent[] = [];
  let secret: string;

  beforeAll(async () => {
    t = await startTestServer({
      mode,
      clock,
      env: {
        ...PERIMETER_RELAXED,
        FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'true',
        FLOTILLA_SECURITY_SESSION_TIMEOUT: String(IDLE_SECONDS),
        FLOTILLA_SECURITY_ACCESS_TOKEN_TTL: '3600',
      },
    });
    t.server.services.identity.events.subscribe((e) => events.push(e));
    const admin = t.client();
    await admin.post('/api/auth/login', { username: 'admin', password: t.adminPassword });
    await admin.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword: STRONG_PASSWORD });
    secret = (await enrollTotp(admin, clock)).secret;
    const { token } = await createEnrollmentToken(admin, { maxUses: 1 });
    const agent = await enroll(t.client(), token, facts({ hostname: 'stream-host' }));
    expect((await send(t.client(), agent, [report(clock.nowMs())], clock.nowMs())).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A real admin's password-and-TOTP login, step by step. */
  async function realAdminLogin(): Promise<{ client: HttpsClient; first: Reply; second: Reply }> {
    clock.advance(30_000);
    const client = t.client();
    const first = await client.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
    const second = await client.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: totpNow(secret, clock) });
    return { client, first, second };
  }

  async function decoyAdminLogin(code = '318240'): Promise<{ client: HttpsClient; first: Reply; second: Reply }> {
    const client = t.client();
    const first = await client.post('/api/auth/login', { username: 'admin_backup', password: 'Summer2026!' });
    const second = await client.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code });
    return { client, first, second };
  }

  it('asks an admin decoy for the second factor a real admin is asked for, and its session has the same amr', async () => {
    const real = await realAdminLogin();
    const decoy = await decoyAdminLogin();
    expect(decoy.first.status).toBe(200);
    expect(keys(decoy.first.json)).toEqual(keys(real.first.json));
    expect(decoy.first.json).toMatchObject({ mfaRequired: true, methods: real.first.json.methods });
    expect(decoy.first.json.mfaTicket).toMatch(/^mft_[A-Za-z0-9_-]{43}$/);
    expect(decoy.second.status).toBe(200);
    expect(keys(decoy.second.json)).toEqual(keys(real.second.json));
    expect(claimsOf(decoy.client).amr).toEqual(claimsOf(real.client).amr);
    expect(claimsOf(decoy.client).amr).toEqual(['pwd', 'otp', 'mfa']);
    // Past the MFA gate, with the factors it claims to have.
    expect((await decoy.client.get('/api/admin/users')).status).toBe(200);
    expect((await decoy.client.get('/api/me/mfa')).json).toMatchObject({ totp: true, passkeys: 0 });
    expect(events.filter((e) => e.type === 'honey_hit' && e.reason === 'honey_account_mfa').at(-1)?.detail).toMatchObject({ sessionId: claimsOf(decoy.client).sid });
    expect(events.some((e) => e.type === 'login_succeeded' && e.username === 'admin_backup')).toBe(false);
  });

  it('refuses a decoy second factor that is not a code, and a spent ticket, as for a real admin', async () => {
    const client = t.client();
    const first = await client.post('/api/auth/login', { username: 'admin_backup', password: 'x' });
    const wrong = await client.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: 'not-a-code' });
    const realFirst = await t.client().post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
    const realWrong = await t.client().post('/api/auth/login/mfa', { mfaTicket: realFirst.json.mfaTicket, code: 'not-a-code' });
    expect({ status: wrong.status, body: wrong.json }).toEqual({ status: realWrong.status, body: realWrong.json });
    expect((await client.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: '000111' })).status).toBe(200);
    const spent = await t.client().post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: '000111' });
    expect(spent.status).toBe(401);
    expect(spent.json.error.code).toBe('invalid_mfa_ticket');
  });

  it('ends a decoy session after the idle timeout, like a real one, and activity keeps both alive', async () => {
    const real = (await realAdminLogin()).client;
    const decoy = (await decoyAdminLogin()).client;
    clock.advance((IDLE_SECONDS - 60) * 1000);
    expect((await real.get('/api/me')).status).toBe(200);
    expect((await decoy.get('/api/me')).status).toBe(200);
    clock.advance((IDLE_SECONDS - 60) * 1000);
    expect((await real.get('/api/me')).status).toBe(200);
    expect((await decoy.get('/api/me')).status).toBe(200);
    clock.advance((IDLE_SECONDS + 1) * 1000);
    const [r, d] = [await real.get('/api/fleet/machines'), await decoy.get('/api/fleet/machines')];
    expect(r.status).toBe(401);
    expect({ status: d.status, body: d.json }).toEqual({ status: r.status, body: r.json });
    expect(d.json.error.code).toBe('session_expired');
    // Over for good, as a real expired session is.
    expect((await decoy.get('/api/me')).status).toBe(401);
  });

  it('rotates a decoy refresh token, and a reused one ends the session, as for a real one', async () => {
    for (const login of [async () => (await realAdminLogin()).client, async () => (await decoyAdminLogin()).client]) {
      const client = await login();
      const oldRefresh = client.jar.get('__Secure-flotilla_refresh') ?? '';
      clock.advance(5_000);
      // Without the CSRF header the cookie alone renews nothing, for a decoy as for a real session.
      const forged = await client.post('/api/auth/refresh');
      expect([forged.status, forged.json.error.code]).toEqual([403, 'csrf_failed']);
      const refreshed = await client.send('POST', '/api/auth/refresh');
      expect(refreshed.status).toBe(200);
      expect(keys(refreshed.json)).toEqual(['csrfToken', 'expiresIn']);
      expect(client.jar.get('__Secure-flotilla_refresh')).not.toBe(oldRefresh);
      expect((await client.get('/api/me')).status).toBe(200);
      // The bearer form answers tokens in the body.
      const byBody = await t.client().post('/api/auth/refresh', { refreshToken: client.jar.get('__Secure-flotilla_refresh') }, { cookies: false });
      expect(keys(byBody.json)).toEqual(['accessToken', 'expiresIn', 'refreshToken']);
      expect((await t.client().get('/api/me', { bearer: byBody.json.accessToken, cookies: false })).status).toBe(200);
      const reused = await t.client().post('/api/auth/refresh', { refreshToken: oldRefresh }, { cookies: false });
      expect(reused.status).toBe(401);
      expect(reused.json.error.code).toBe('invalid_refresh_token');
      expect((await t.client().get('/api/me', { bearer: byBody.json.accessToken, cookies: false })).status).toBe(401);
    }
    expect(events.some((e) => e.type === 'honey_hit' && e.reason === 'honey_refresh_token_reused')).toBe(true);
  });

  it('refuses to refresh an idle decoy session with session_expired', async () => {
    const decoy = (await decoyAdminLogin()).client;
    clock.advance((IDLE_SECONDS + 1) * 1000);
    const res = await decoy.send('POST', '/api/auth/refresh');
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('session_expired');
  });

  it('ends a decoy session at logout', async () => {
    const decoy = (await decoyAdminLogin()).client;
    const access = decoy.jar.get('__Host-flotilla_access') ?? '';
    const refreshToken = decoy.jar.get('__Secure-flotilla_refresh');
    expect((await decoy.send('POST', '/api/auth/logout')).status).toBe(200);
    expect((await t.client().get('/api/me', { bearer: access, cookies: false })).status).toBe(401);
    const refreshed = await t.client().post('/api/auth/refresh', { refreshToken }, { cookies: false });
    expect(refreshed.status).toBe(401);
    expect(refreshed.json.error.code).toBe('invalid_refresh_token');
  });

  it('streams plausible live events to a decoy, shaped like the real ones, until it logs out', async () => {
    const real = (await realAdminLogin()).client;
    const decoy = (await decoyAdminLogin()).client;
    const [realStream, decoyStream] = [await openStream(t, real), await openStream(t, decoy)];
    expect(decoyStream.status).toBe(200);
    expect(decoyStream.headers['content-type']).toBe(realStream.headers['content-type']);
    expect(decoyStream.headers['cache-control']).toBe(realStream.headers['cache-control']);
    const realSummary = await waitFor(() => realStream.events.find((e) => e.event === 'summary'), 3000);
    const decoySummary = await waitFor(() => decoyStream.events.find((e) => e.event === 'summary'), 3000);
    expect(keys(decoySummary.data)).toEqual(keys(realSummary.data));
    expect(decoySummary.data).toEqual((await decoy.get('/api/fleet/summary')).json);
    realStream.close();

    // A machine reports within seconds, as in a fleet of this size; its row is one of the decoy's machines.
    const machine = await waitFor(() => decoyStream.events.find((e) => e.event === 'machine'), 6000);
    const list = (await decoy.get('/api/fleet/machines')).json.items as Array<Record<string, unknown>>;
    const realRow = (await real.get('/api/fleet/machines')).json.items[0];
    expect(keys(machine.data)).toEqual(keys(realRow));
    expect(list.map((m) => m.id)).toContain(machine.data.id);
    expect(machine.data.lastSeenAt).toBe(clock.nowMs());

    expect((await decoy.send('POST', '/api/auth/logout')).status).toBe(200);
    const started = Date.now();
    await Promise.race([decoyStream.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('decoy stream outlived its session')), 2500))]);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(t.server.services.identity.honey.streams.openStreams).toBe(0);
  });

  it('verifies the decoy audit chain, consistent with its log and export', async () => {
    const admin = (await realAdminLogin()).client;
    const decoy = (await decoyAdminLogin()).client;
    const verify = await decoy.get('/api/admin/audit/verify');
    const realVerify = await admin.get('/api/admin/audit/verify');
    expect(realVerify.json.ok).toBe(true);
    expect(keys(verify.json)).toEqual(keys(realVerify.json));
    expect(verify.json).toMatchObject({ ok: true, broken: null, firstSeq: 1 });
    expect(verify.json.lastSeq).toBe(verify.json.count);
    expect(verify.json.head).toMatch(/^[0-9a-f]{64}$/);
    const page = await decoy.get('/api/admin/audit?limit=5');
    expect(page.json.items.map((e: { seq: number }) => e.seq)).toEqual([0, 1, 2, 3, 4].map((i) => verify.json.count - i));
    const older = await decoy.get(`/api/admin/audit?limit=5&cursor=${page.json.next}`);
    expect(older.json.items[0].seq).toBe(verify.json.count - 5);

    const [csv, realCsv] = [await decoy.get('/api/admin/audit/export?format=csv'), await admin.get('/api/admin/audit/export?format=csv')];
    expect(csv.status).toBe(200);
    for (const header of ['content-type', 'content-disposition']) expect(csv.headers[header]).toBe(realCsv.headers[header]);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(realCsv.text.split('\r\n')[0]);
    expect(lines).toHaveLength(verify.json.count + 1);
    expect(lines.at(-1)).toContain(`"${verify.json.head}"`);
    const json = await decoy.get('/api/admin/audit/export?format=json');
    expect(keys(json.json[0])).toEqual(keys((await admin.get('/api/admin/audit/export?format=json')).json[0]));
  });
});
}
