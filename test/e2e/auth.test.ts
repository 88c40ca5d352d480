import { existsSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { initialPasswordFile } from '../../src/server/bootstrap.js';
import { modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';

const VIEWER_PASSWORD = 'Viewer-Password-42x';

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`login, tokens and sessions over HTTPS (${mode})`, () => {
    let t: TestServer;
    const clock = new ManualClock(Date.now());

    beforeAll(async () => {
      t = await startTestServer({ mode, clock, env: { FLOTILLA_SECURITY_SESSION_TIMEOUT: '600' } });
    });
    afterAll(async () => {
      await t?.close();
    });

    it('first start creates admin with a one-time password that must be changed', async () => {
      expect(t.adminPassword).toMatch(/^\S{24}$/);
      const file = initialPasswordFile(t.config.dataDir);
      expect(statSync(file).mode & 0o777).toBe(0o600);

      const c = t.client();
      const login = await c.post('/api/auth/login', { username: 'admin', password: t.adminPassword });
      expect(login.status).toBe(200);
      expect(login.json.passwordChangeRequired).toBe(true);
      expect(login.json.user).toMatchObject({ username: 'admin', role: 'admin' });

      const blocked = await c.get('/api/admin/users');
      expect(blocked.status).toBe(403);
      expect(blocked.json.error.code).toBe('password_change_required');
      expect((await c.get('/api/me')).status).toBe(200);

      const changed = await c.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword: STRONG_PASSWORD });
      expect(changed.status).toBe(200);
      expect((await c.get('/api/admin/users')).status).toBe(200);
      expect(existsSync(file)).toBe(false);
      // The one-time password is gone for good.
      expect((await t.client().post('/api/auth/login', { username: 'admin', password: t.adminPassword })).status).toBe(401);
    });

    it('sets HttpOnly, Secure, SameSite=Strict cookies with the __Host- prefix where the path allows', async () => {
      const c = t.client();
      const login = await c.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
      const byName = new Map(login.setCookies.map((line) => [line.split('=')[0], line]));
      const access = byName.get('__Host-flotilla_access') ?? '';
      const refresh = byName.get('__Secure-flotilla_refresh') ?? '';
      const csrf = byName.get('flotilla_csrf') ?? '';
      for (const line of [access, refresh]) expect(line).toMatch(/HttpOnly/i);
      for (const line of [access, refresh, csrf]) {
        expect(line).toMatch(/; Secure/i);
        expect(line).toMatch(/SameSite=Strict/i);
      }
      expect(access).toMatch(/Path=\/(;|$)/);
      expect(refresh).toMatch(/Path=\/api\/auth/);
      expect(csrf).not.toMatch(/HttpOnly/i);
      expect(login.json.csrfToken).toBe(c.csrf);
    });

    it('answers an unknown user, a wrong password and a suspended account identically', async () => {
      const admin = await loginAs('admin', STRONG_PASSWORD);
      const created = await admin.send('POST', '/api/admin/users', { username: 'suspendee', password: VIEWER_PASSWORD, role: 'viewer' });
      expect(created.status).toBe(201);
      expect((await admin.send('PATCH', `/api/admin/users/${created.json.id}`, { status: 'suspended' })).status).toBe(200);

      const answers = await Promise.all([
        t.client().post('/api/auth/login', { username: 'nobody-here', password: 'Whatever-123!x' }),
        t.client().post('/api/auth/login', { username: 'admin', password: 'Wrong-Password-1!' }),
        t.client().post('/api/auth/login', { username: 'suspendee', password: VIEWER_PASSWORD }),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.text).toBe(answers[0]?.text);
        expect(answer.setCookies).toEqual([]);
      }
      expect(answers[0]?.json).toEqual({ error: { code: 'invalid_credentials', message: 'invalid username or password' } });
    });

    it('requires the CSRF token on cookie-authenticated changes, and not on bearer requests', async () => {
      const c = await loginAs('admin', STRONG_PASSWORD);
      const body = { username: 'csrf-victim', password: VIEWER_PASSWORD, role: 'viewer' };
      const forged = await c.request('POST', '/api/admin/users', { body });
      expect(forged.status).toBe(403);
      expect(forged.json.error.code).toBe('csrf_failed');
      const wrong = await c.request('POST', '/api/admin/users', { body, headers: { 'x-csrf-token': 'A'.repeat(43) } });
      expect(wrong.status).toBe(403);
      expect((await c.get('/api/admin/users?limit=500')).json.items.map((u: { username: string }) => u.username)).not.toContain('csrf-victim');

      const tokens = await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD });
      expect(tokens.status).toBe(200);
      const bearer = await t.client().post('/api/admin/users', body, { bearer: tokens.json.accessToken, cookies: false });
      expect(bearer.status).toBe(201);
    });

    it('rotates refresh tokens and revokes the whole family when a used one comes back', async () => {
      const c = t.client();
      const first = (await c.post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      const second = await c.post('/api/auth/refresh', { refreshToken: first.refreshToken }, { cookies: false });
      expect(second.status).toBe(200);
      expect(second.json.refreshToken).not.toBe(first.refreshToken);
      expect((await c.get('/api/me', { bearer: second.json.accessToken, cookies: false })).status).toBe(200);

      const replay = await c.post('/api/auth/refresh', { refreshToken: first.refreshToken }, { cookies: false });
      expect(replay.status).toBe(401);
      expect(replay.json.error.code).toBe('invalid_refresh_token');
      // The thief's and the owner's tokens of that family are all dead now.
      expect((await c.post('/api/auth/refresh', { refreshToken: second.json.refreshToken }, { cookies: false })).status).toBe(401);
      expect((await c.get('/api/me', { bearer: second.json.accessToken, cookies: false })).status).toBe(401);
    });

    it('refreshes a browser session from its cookie only with the CSRF header of that session', async () => {
      const c = await loginAs('admin', STRONG_PASSWORD);
      const other = await loginAs('admin', STRONG_PASSWORD);
      const oldCsrf = c.csrf;
      // SameSite=Strict is not the only defence: a cookie refresh without the header (or with another session's) is refused.
      const attempts: Record<string, string>[] = [{}, { 'x-csrf-token': other.csrf ?? '' }, { 'x-csrf-token': 'A'.repeat(43) }];
      for (const headers of attempts) {
        const forged = await c.request('POST', '/api/auth/refresh', { headers });
        expect(forged.status).toBe(403);
        expect(forged.json.error.code).toBe('csrf_failed');
        expect(forged.setCookies).toEqual([]);
      }
      // The refused attempts did not spend the refresh token (spending it twice would end the session).
      const refreshed = await c.send('POST', '/api/auth/refresh');
      expect(refreshed.status).toBe(200);
      expect(refreshed.json.csrfToken).toBe(oldCsrf);
      expect(refreshed.json.accessToken).toBeUndefined();
      expect((await c.get('/api/me')).status).toBe(200);
    });

    it('logout ends the session for the access token as well', async () => {
      const c = t.client();
      const tokens = (await c.post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      expect((await c.post('/api/auth/logout', undefined, { bearer: tokens.accessToken, cookies: false })).status).toBe(200);
      expect((await c.get('/api/me', { bearer: tokens.accessToken, cookies: false })).status).toBe(401);
      expect((await c.post('/api/auth/refresh', { refreshToken: tokens.refreshToken }, { cookies: false })).status).toBe(401);
    });

    it('hands new tokens back the way the caller authenticated: cookies to a browser, the tokens themselves to a bearer client', async () => {
      const admin = await loginAs('admin', STRONG_PASSWORD);
      expect((await admin.send('POST', '/api/admin/users', { username: 'delivery-user', password: VIEWER_PASSWORD, role: 'viewer' })).status).toBe(201);
      const passwords = [VIEWER_PASSWORD, 'Delivery-Pass-1a', 'Delivery-Pass-2b', 'Delivery-Pass-3c', 'Delivery-Pass-4d'];
      const change = (step: number) => ({ currentPassword: passwords[step]!, newPassword: passwords[step + 1]! });
      const tokenCookies = (setCookies: string[]) => setCookies.filter((line) => /^(__Host-flotilla_access|__Secure-flotilla_refresh)=[^;]/.test(line));

      const browser = await loginAs('delivery-user', passwords[0]!);
      const viaCookie = await browser.send('POST', '/api/me/password', change(0));
      expect(viaCookie.status).toBe(200);
      expect(Object.keys(viaCookie.json).sort()).toEqual(['csrfToken', 'expiresIn', 'user']);
      expect(tokenCookies(viaCookie.setCookies)).toHaveLength(2);

      // An Authorization header that is no bearer token does not make a cookie session a bearer client: page scripts never see its tokens.
      const odd = await loginAs('delivery-user', passwords[1]!);
      const oddHeader = await odd.request('POST', '/api/me/password', { body: change(1), headers: { 'x-csrf-token': odd.csrf ?? '', authorization: 'Basic ZGVsaXZlcnk6dXNlcg==' } });
      expect(oddHeader.status).toBe(200);
      expect(Object.keys(oddHeader.json).sort()).toEqual(['csrfToken', 'expiresIn', 'user']);
      expect(tokenCookies(oddHeader.setCookies)).toHaveLength(2);

      const script = t.client();
      const tokens = (await script.post('/api/auth/token', { username: 'delivery-user', password: passwords[2] })).json;
      const viaBearer = await script.post('/api/me/password', change(2), { bearer: tokens.accessToken, cookies: false });
      expect(viaBearer.status).toBe(200);
      expect(Object.keys(viaBearer.json).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'user']);
      expect(viaBearer.setCookies).toEqual([]);
      expect((await script.get('/api/me', { bearer: viaBearer.json.accessToken, cookies: false })).status).toBe(200);

      // A bearer token wins over cookies sent beside it, so the answer goes to the bearer client.
      const both = await loginAs('delivery-user', passwords[3]!);
      const bearer = (await t.client().post('/api/auth/token', { username: 'delivery-user', password: passwords[3] })).json.accessToken;
      const bearerWithCookies = await both.request('POST', '/api/me/password', { body: change(3), bearer });
      expect(bearerWithCookies.status).toBe(200);
      expect(Object.keys(bearerWithCookies.json).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'user']);
      expect(bearerWithCookies.setCookies).toEqual([]);
    });

    it('lets an admin list and revoke another user’s sessions', async () => {
      const admin = await loginAs('admin', STRONG_PASSWORD);
      const created = await admin.send('POST', '/api/admin/users', { username: 'sessions-user', password: VIEWER_PASSWORD, role: 'viewer' });
      const user = t.client();
      await user.post('/api/auth/login', { username: 'sessions-user', password: VIEWER_PASSWORD });
      await user.send('POST', '/api/me/password', { currentPassword: VIEWER_PASSWORD, newPassword: 'Second-Password-77' });
      expect((await user.get('/api/me/sessions')).json.items).toHaveLength(1);

      const list = await admin.get(`/api/admin/users/${created.json.id}/sessions`);
      expect(list.status).toBe(200);
      expect(list.json.items).toHaveLength(1);
      const sid = list.json.items[0].id;
      expect((await admin.send('DELETE', `/api/admin/users/${created.json.id}/sessions/${sid}`)).status).toBe(200);
      expect((await user.get('/api/me')).status).toBe(401);
    });

    it('a role change ends the user’s sessions so the old role cannot linger in a token', async () => {
      const admin = await loginAs('admin', STRONG_PASSWORD);
      const created = await admin.send('POST', '/api/admin/users', { username: 'promotee', password: VIEWER_PASSWORD, role: 'viewer' });
      const user = t.client();
      await user.post('/api/auth/login', { username: 'promotee', password: VIEWER_PASSWORD });
      await user.send('POST', '/api/me/password', { currentPassword: VIEWER_PASSWORD, newPassword: 'Promoted-Password-1' });
      expect((await user.get('/api/admin/users')).status).toBe(403);
      expect((await admin.send('PATCH', `/api/admin/users/${created.json.id}`, { role: 'operator' })).json.role).toBe('operator');
      expect((await user.get('/api/me')).status).toBe(401);
    });

    it('refuses weak, reserved and duplicate users and never leaves the last admin', async () => {
      const admin = await loginAs('admin', STRONG_PASSWORD);
      const weak = await admin.send('POST', '/api/admin/users', { username: 'weakling', password: 'password', role: 'viewer' });
      expect(weak.status).toBe(400);
      expect(weak.json.error.code).toBe('weak_password');
      const reserved = await admin.send('POST', '/api/admin/users', { username: 'admin_backup', password: VIEWER_PASSWORD, role: 'admin' });
      expect(reserved.json.error.code).toBe('username_reserved');
      const dup = await admin.send('POST', '/api/admin/users', { username: 'admin', password: VIEWER_PASSWORD, role: 'viewer' });
      expect(dup.status).toBe(409);
      const me = (await admin.get('/api/me')).json.user;
      const self = await admin.send('PATCH', `/api/admin/users/${me.id}`, { role: 'viewer' });
      expect(self.status).toBe(409);
    });

    it('ends a session idle longer than session_timeout, and an access token after 30 minutes', async () => {
      const c = t.client();
      const tokens = (await c.post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      clock.advance(590_000);
      expect((await c.get('/api/me', { bearer: tokens.accessToken, cookies: false })).status).toBe(200);
      clock.advance(590_000); // active 10 s ago... then 590 s more: still within 600 s of the last request
      expect((await c.get('/api/me', { bearer: tokens.accessToken, cookies: false })).status).toBe(200);
      clock.advance(601_000);
      const idle = await c.get('/api/me', { bearer: tokens.accessToken, cookies: false });
      expect(idle.status).toBe(401);
      expect(idle.json.error.code).toBe('session_expired');

      const fresh = (await c.post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      for (let i = 0; i < 3; i++) {
        clock.advance(590_000);
        await c.get('/api/me', { bearer: fresh.accessToken, cookies: false });
      }
      clock.advance(100_000); // 1870 s after issue: past the 1800 s access-token life
      expect((await c.get('/api/me', { bearer: fresh.accessToken, cookies: false })).status).toBe(401);
      expect((await c.post('/api/auth/refresh', { refreshToken: fresh.refreshToken }, { cookies: false })).status).toBe(200);
    });

    async function loginAs(username: string, password: string) {
      const c = t.client();
      const res = await c.post('/api/auth/login', { username, password });
      if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${res.text}`);
      return c;
    }
  });
}

