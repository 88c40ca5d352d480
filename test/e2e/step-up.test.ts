/**
 * Step-up re-authentication for second-factor and account-takeover changes,
 * and the death of access tokens a refresh, reissue or revocation replaced.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { claimsOf, createUser, enrollTotp, PERIMETER_RELAXED, reauth, totpNow } from './mfa-helpers.js';

const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';
const STALE_MS = 301_000;

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`step-up and superseded tokens (${mode})`, () => {
    let t: TestServer;
    const clock = new ManualClock(Date.UTC(2026, 3, 1, 9, 0, 5));
    const events: IdentityEvent[] = [];
    let admin: HttpsClient;

    beforeAll(async () => {
      t = await startTestServer({ mode, clock, env: PERIMETER_RELAXED });
      t.server.services.identity.events.subscribe((e) => events.push(e));
      await adminClient(t);
    });
    afterAll(async () => {
      await t?.close();
    });
    // The tests move the clock by many minutes: each starts with a fresh admin session.
    beforeEach(async () => {
      if (!t) return;
      admin = t.client();
      expect((await admin.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD })).status).toBe(200);
    });

    const expectStepUp = (res: { status: number; json: { error?: { code?: string } } }, what: string) => {
      expect(res.status, what).toBe(403);
      expect(res.json.error?.code, what).toBe('reauthentication_required');
    };
    /** Every route that adds, removes or mints a second factor. */
    const factorChanges = (c: HttpsClient) => ({
      'remove TOTP': () => c.send('DELETE', '/api/me/mfa/totp'),
      'mint backup codes': () => c.send('POST', '/api/me/mfa/backup-codes', {}),
      'start TOTP setup': () => c.send('POST', '/api/me/mfa/totp/setup', {}),
      'confirm TOTP': () => c.send('POST', '/api/me/mfa/totp/confirm', { code: '123456' }),
      'passkey options': () => c.send('POST', '/api/me/passkeys/register/options', {}),
      'register passkey': () => c.send('POST', '/api/me/passkeys/register/verify', { response: {} }),
      'remove passkey': () => c.send('DELETE', `/api/me/passkeys/${UNKNOWN_ID}`),
    });

    it('refuses every second-factor change from a session whose proof is over five minutes old', async () => {
      const user = await createUser(t, admin, 'ursula', 'operator', 'Stale-Session-Pass-1');
      // Right after login the login itself is the proof.
      const { secret } = await enrollTotp(user.client, clock);
      clock.advance(299_000);
      expect((await user.client.send('POST', '/api/me/mfa/backup-codes', {})).status).toBe(200);
      clock.advance(2_000);
      for (const [what, call] of Object.entries(factorChanges(user.client))) expectStepUp(await call(), what);
      expect((await user.client.get('/api/me/mfa')).json).toEqual({ totp: true, backupCodesRemaining: 10, passkeys: 0 });

      // A refresh proves nothing: a stolen refresh token must not buy a step-up.
      expect((await user.client.send('POST', '/api/auth/refresh')).status).toBe(200);
      expectStepUp(await user.client.send('DELETE', '/api/me/mfa/totp'), 'after refresh');

      // A current TOTP code is a proof too.
      clock.advance(30_000);
      const proved = await user.client.send('POST', '/api/me/reauth', { code: totpNow(secret, clock) });
      expect(proved.status).toBe(200);
      expect(proved.json).toEqual({ ok: true, validUntil: clock.nowMs() + 300_000 });
      expect((await user.client.send('DELETE', '/api/me/mfa/totp')).status).toBe(200);
      expect(events.some((e) => e.type === 'reauthenticated' && e.userId === user.id && e.detail?.method === 'totp')).toBe(true);
    });

    it('takes the current password at /api/me/reauth; a wrong one is refused and the change stays refused', async () => {
      const user = await createUser(t, admin, 'petra', 'viewer', 'Reauth-Password-22');
      const { secret } = await enrollTotp(user.client, clock);
      clock.advance(STALE_MS);
      const wrong = await user.client.send('POST', '/api/me/reauth', { password: 'Not-The-Password-1' });
      expect(wrong.status).toBe(403);
      expect(wrong.json.error.code).toBe('reauthentication_failed');
      expectStepUp(await user.client.send('POST', '/api/me/mfa/backup-codes', {}), 'after a wrong password');
      const failure = events.findLast((e) => e.type === 'login_failed' && e.userId === user.id);
      expect(failure).toMatchObject({ reason: 'bad_credentials', detail: { stage: 'reauth' } });
      expect(JSON.stringify(events)).not.toContain('Not-The-Password-1');

      // Cookie sessions need the CSRF header here like on any change.
      const noCsrf = await user.client.post('/api/me/reauth', { password: 'Reauth-Password-22' });
      expect(noCsrf.json.error.code).toBe('csrf_failed');
      await reauth(user.client, { password: 'Reauth-Password-22' });
      expect((await user.client.send('POST', '/api/me/mfa/backup-codes', {})).status).toBe(200);
      // The proof belongs to the session, not the user.
      const other = t.client();
      const ticket = (await other.post('/api/auth/login', { username: 'petra', password: 'Reauth-Password-22' })).json.mfaTicket;
      clock.advance(30_000);
      expect((await other.post('/api/auth/login/mfa', { mfaTicket: ticket, code: totpNow(secret, clock) })).status).toBe(200);
      clock.advance(STALE_MS);
      await reauth(user.client, { password: 'Reauth-Password-22' });
      expectStepUp(await other.send('POST', '/api/me/mfa/backup-codes', {}), 'another session');
    });

    it('counts wrong reauth passwords and codes as failed attempts: they lock the account', async () => {
      const user = await createUser(t, admin, 'gustav', 'viewer', 'Reauth-Guess-Pass-3');
      clock.advance(STALE_MS);
      for (let i = 0; i < 3; i++) expect((await user.client.send('POST', '/api/me/reauth', { password: `Guess-${i}-Password` })).status).toBe(403);
      for (let i = 0; i < 2; i++) expect((await user.client.send('POST', '/api/me/reauth', { code: `12345${i}` })).status).toBe(403);
      await reauth(admin, { password: STRONG_PASSWORD });
      expect((await admin.get(`/api/admin/users/${user.id}`)).json.status).toBe('locked');
      // Locked: the right password no longer proves anything, here or at login.
      expect((await user.client.send('POST', '/api/me/reauth', { password: 'Reauth-Guess-Pass-3' })).json.error.code).toBe('reauthentication_failed');
      expect((await t.client().post('/api/auth/login', { username: 'gustav', password: 'Reauth-Guess-Pass-3' })).status).toBe(401);
      expect(events.filter((e) => e.type === 'account_locked' && e.userId === user.id)).toHaveLength(1);
    });

    it('asks a stale admin session to step up before it takes over another account', async () => {
      const target = await createUser(t, admin, 'tamsin', 'viewer', 'Takeover-Target-Pass-4');
      clock.advance(STALE_MS);
      const takeovers = {
        'make admin': () => admin.send('PATCH', `/api/admin/users/${target.id}`, { role: 'admin' }),
        'reset password': () => admin.send('POST', `/api/admin/users/${target.id}/password`, { password: 'Reset-By-Admin-Pass-4' }),
        'reset MFA': () => admin.send('DELETE', `/api/admin/users/${target.id}/mfa`),
        'create user': () => admin.send('POST', '/api/admin/users', { username: 'nadia', password: 'Takeover-New-Pass-5', role: 'admin' }),
      };
      for (const [what, call] of Object.entries(takeovers)) expectStepUp(await call(), what);
      expect((await admin.get(`/api/admin/users/${target.id}`)).json.role).toBe('viewer');
      expect((await target.client.get('/api/me')).status).toBe(200);
      await reauth(admin, { password: STRONG_PASSWORD });
      for (const [what, call] of Object.entries(takeovers)) expect((await call()).status, what).toBeLessThan(300);
    });

    it('gives bearer sessions the same rule, without a CSRF header', async () => {
      const tokens = (await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      const bearer = { bearer: tokens.accessToken, cookies: false };
      const create = () => t.client().request('POST', '/api/admin/users', { ...bearer, body: { username: `script-${clock.nowMs()}`, password: 'Bearer-Created-Pass-6', role: 'viewer' } });
      expect((await create()).status).toBe(201);
      clock.advance(STALE_MS);
      expectStepUp(await create(), 'bearer');
      expect((await t.client().request('POST', '/api/me/reauth', { ...bearer, body: { password: STRONG_PASSWORD } })).status).toBe(200);
      expect((await create()).status).toBe(201);
    });

    it('kills the access token a refresh replaced, at once, for cookies and for scripts', async () => {
      const c = t.client();
      await c.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
      const oldAccess = c.jar.get('__Host-flotilla_access') ?? '';
      expect((await c.send('POST', '/api/auth/refresh')).status).toBe(200);
      expect((await c.get('/api/me')).status).toBe(200);
      const stale = await t.client().get('/api/me', { bearer: oldAccess, cookies: false });
      expect(stale.status).toBe(401);
      expect(stale.json.error.code).toBe('unauthorized');

      const first = (await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD })).json;
      const second = (await t.client().post('/api/auth/refresh', { refreshToken: first.refreshToken }, { cookies: false })).json;
      expect((await t.client().get('/api/me', { bearer: first.accessToken, cookies: false })).status).toBe(401);
      expect((await t.client().get('/api/me', { bearer: second.accessToken, cookies: false })).status).toBe(200);

      // Still dead when the KV forgets what it cached (the in-process store after a restart): the session row decides.
      const sid = claimsOf(first.accessToken).sid as string;
      await t.server.services.kv.del(`sess:${sid}`);
      await t.server.services.kv.del(`sess-jti:${sid}`);
      expect((await t.client().get('/api/me', { bearer: first.accessToken, cookies: false })).status).toBe(401);
      expect((await t.client().get('/api/me', { bearer: second.accessToken, cookies: false })).status).toBe(200);
      expect((await t.client().get('/api/me', { bearer: first.accessToken, cookies: false })).status).toBe(401);
    });

    it('kills old access tokens on a password change, in this session and every other', async () => {
      const user = await createUser(t, admin, 'pablo', 'viewer', 'Pw-Changer-Pass-7');
      clock.advance(STALE_MS);
      const other = t.client();
      await other.post('/api/auth/login', { username: 'pablo', password: 'Pw-Changer-Pass-7' });
      const mine = user.client.jar.get('__Host-flotilla_access') ?? '';
      const theirs = other.jar.get('__Host-flotilla_access') ?? '';
      expect((await user.client.send('POST', '/api/me/password', { currentPassword: 'Pw-Changer-Pass-7', newPassword: 'Pw-Changer-Pass-8' })).status).toBe(200);
      expect((await user.client.get('/api/me')).status).toBe(200);
      for (const token of [mine, theirs]) expect((await t.client().get('/api/me', { bearer: token, cookies: false })).status).toBe(401);
      // Proving the current password is a step-up as well.
      expect((await user.client.send('POST', '/api/me/mfa/totp/setup', {})).status).toBe(200);
    });

    it('kills the target’s access tokens when an admin resets the password, changes the role or status, or resets MFA', async () => {
      const target = await createUser(t, admin, 'astrid', 'viewer', 'Admin-Target-Pass-9');
      const signIn = async (password: string) => {
        const c = t.client();
        const res = await c.post('/api/auth/login', { username: 'astrid', password });
        if (res.json.passwordChangeRequired) await c.send('POST', '/api/me/password', { currentPassword: password, newPassword: `${password}x` });
        return c;
      };
      await reauth(admin, { password: STRONG_PASSWORD });
      let victim = target.client;
      const actions: Array<[string, () => Promise<unknown>, string]> = [
        ['reset password', () => admin.send('POST', `/api/admin/users/${target.id}/password`, { password: 'Admin-Reset-Pass-10' }), 'Admin-Reset-Pass-10'],
        ['role change', () => admin.send('PATCH', `/api/admin/users/${target.id}`, { role: 'operator' }), 'Admin-Reset-Pass-10x'],
        ['suspend', () => admin.send('PATCH', `/api/admin/users/${target.id}`, { status: 'suspended' }), ''],
      ];
      for (const [what, act, nextPassword] of actions) {
        const token = victim.jar.get('__Host-flotilla_access') ?? '';
        expect((await t.client().get('/api/me', { bearer: token, cookies: false })).status, what).toBe(200);
        await act();
        expect((await t.client().get('/api/me', { bearer: token, cookies: false })).status, what).toBe(401);
        if (nextPassword) victim = await signIn(nextPassword);
      }
      expect((await admin.send('PATCH', `/api/admin/users/${target.id}`, { status: 'active' })).status).toBe(200);
      victim = await signIn('Admin-Reset-Pass-10x');
      await enrollTotp(victim, clock);
      const token = victim.jar.get('__Host-flotilla_access') ?? '';
      expect((await admin.send('DELETE', `/api/admin/users/${target.id}/mfa`)).status).toBe(200);
      expect((await t.client().get('/api/me', { bearer: token, cookies: false })).status).toBe(401);
    });

    it('kills the access token a second-factor enrollment reissued', async () => {
      const user = await createUser(t, admin, 'enzo', 'viewer', 'Enrolling-Pass-11');
      const before = user.client.jar.get('__Host-flotilla_access') ?? '';
      await enrollTotp(user.client, clock);
      expect(claimsOf(user.client).amr).toContain('mfa');
      expect((await t.client().get('/api/me', { bearer: before, cookies: false })).status).toBe(401);
      expect((await user.client.get('/api/me')).status).toBe(200);
    });
  });
}
