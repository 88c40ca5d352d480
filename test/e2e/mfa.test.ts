import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import { ManualClock } from '../../src/lib/clock.js';
import { decryptField, deriveAtRestKey } from '../../src/protocol/at-rest.js';
import type { HttpsClient } from '../harness/client.js';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { claimsOf, createUser, enrollTotp, PERIMETER_RELAXED, reauth, totpNow } from './mfa-helpers.js';

describe('TOTP, backup codes and the MFA login over HTTPS', () => {
  let t: TestServer;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 5));
  const events: IdentityEvent[] = [];
  let admin: HttpsClient;
  let secret: string;
  let backupCodes: string[];

  beforeAll(async () => {
    t = await startTestServer({
      clock,
      env: { ...PERIMETER_RELAXED, FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'true', FLOTILLA_SECURITY_ORGANIZATION_NAME: 'Acme Fleet' },
    });
    t.server.services.identity.events.subscribe((e) => events.push(e));
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (password = STRONG_PASSWORD, username = 'admin') => t.client().post('/api/auth/login', { username, password });
  const nextStep = () => clock.advance(30_000);

  it('holds an admin without a second factor at enrollment until one is confirmed', async () => {
    admin = t.client();
    expect((await admin.post('/api/auth/login', { username: 'admin', password: t.adminPassword })).status).toBe(200);
    expect((await admin.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword: STRONG_PASSWORD })).status).toBe(200);
    for (const path of ['/api/admin/users', '/api/me/sessions', '/api/fleet/machines']) {
      const blocked = await admin.get(path);
      expect(blocked.status, path).toBe(403);
      expect(blocked.json.error.code).toBe('mfa_enrollment_required');
    }
    expect((await admin.get('/api/me')).status).toBe(200);
    expect((await admin.get('/api/me/mfa')).json).toEqual({ totp: false, backupCodesRemaining: 0, passkeys: 0 });

    const setup = await admin.send('POST', '/api/me/mfa/totp/setup', {});
    expect(setup.status).toBe(200);
    secret = setup.json.manualEntryKey;
    const uri = new URL(setup.json.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(Object.fromEntries(uri.searchParams)).toEqual({ issuer: 'Acme Fleet', secret, algorithm: 'SHA1', digits: '6', period: '30' });
    expect(setup.json.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // Pending until confirmed: not yet a method, and the password alone still logs in.
    expect((await admin.get('/api/me/mfa')).json.totp).toBe(false);
    expect((await login()).json.mfaRequired).toBeUndefined();

    const wrong = await admin.send('POST', '/api/me/mfa/totp/confirm', { code: totpNow(secret, clock, 3) });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('invalid_mfa_code');
    expect((await admin.get('/api/admin/users')).status).toBe(403);

    const confirmed = await admin.send('POST', '/api/me/mfa/totp/confirm', { code: totpNow(secret, clock) });
    expect(confirmed.status).toBe(200);
    backupCodes = confirmed.json.backupCodes;
    expect(backupCodes).toHaveLength(10);
    expect(new Set(backupCodes).size).toBe(10);
    // This session proved the new factor: it is multi-factor now and may administer.
    expect(claimsOf(admin).amr).toEqual(['pwd', 'otp', 'mfa']);
    expect((await admin.get('/api/admin/users')).status).toBe(200);
    expect((await admin.get('/api/me/mfa')).json).toEqual({ totp: true, backupCodesRemaining: 10, passkeys: 0 });
    expect((await admin.send('POST', '/api/me/mfa/totp/setup', {})).json.error.code).toBe('totp_already_enrolled');
    expect(events.some((e) => e.type === 'mfa_enrolled' && e.detail?.method === 'totp')).toBe(true);
  });

  it('keeps the TOTP secret encrypted at rest, bound to its row', async () => {
    const userId = (await admin.get('/api/me')).json.user.id;
    const row = await t.server.services.sql.db.selectFrom('mfaTotp').selectAll().where('userId', '=', userId).executeTakeFirstOrThrow();
    expect(row.secretEnc).not.toContain(secret);
    expect(row.secretEnc).toMatch(/^v1\./);
    const key = deriveAtRestKey(t.server.services.secrets.db);
    expect(decryptField(key, { table: 'mfa_totp', column: 'secret_enc', rowId: userId }, row.secretEnc)).toBe(secret);
    expect(() => decryptField(key, { table: 'mfa_totp', column: 'secret_enc', rowId: 'someone-else' }, row.secretEnc)).toThrow();
    const codes = await t.server.services.sql.db.selectFrom('mfaBackupCodes').select('codeHash').where('userId', '=', userId).execute();
    for (const code of backupCodes) expect(JSON.stringify(codes)).not.toContain(code.replace('-', ''));
  });

  it('answers a right password with a ticket and no tokens, then signs in with the code', async () => {
    nextStep();
    const c = t.client();
    const first = await c.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ mfaRequired: true, mfaTicket: expect.stringMatching(/^mft_[A-Za-z0-9_-]{43}$/), methods: ['totp', 'backup'] });
    expect(first.setCookies).toEqual([]);
    expect((await c.get('/api/me')).status).toBe(401);

    const done = await c.post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: totpNow(secret, clock) });
    expect(done.status).toBe(200);
    expect(done.json.user.username).toBe('admin');
    expect(done.json.csrfToken).toBe(c.csrf);
    expect(claimsOf(c).amr).toEqual(['pwd', 'otp', 'mfa']);
    expect((await c.get('/api/admin/users')).status).toBe(200);

    // A ticket works once.
    const again = await t.client().post('/api/auth/login/mfa', { mfaTicket: first.json.mfaTicket, code: totpNow(secret, clock, 1) });
    expect(again.json.error.code).toBe('invalid_mfa_ticket');
  });

  it('accepts each time step once (replay), within one step of now, and nothing from a wrong password', async () => {
    nextStep();
    const code = totpNow(secret, clock);
    const ticket = async () => (await login()).json.mfaTicket as string;
    expect((await t.client().post('/api/auth/login/mfa', { mfaTicket: await ticket(), code })).status).toBe(200);
    // One ticket, several tries (each a slot of the account's five).
    const mfaTicket = await ticket();
    const replay = await t.client().post('/api/auth/login/mfa', { mfaTicket, code });
    expect(replay.status).toBe(401);
    expect(replay.json.error.code).toBe('invalid_mfa_code');
    // The previous step is spent too (the last used step only rises); two ahead is outside the window.
    expect((await t.client().post('/api/auth/login/mfa', { mfaTicket, code: totpNow(secret, clock, -1) })).status).toBe(401);
    expect((await t.client().post('/api/auth/login/mfa', { mfaTicket, code: totpNow(secret, clock, 2) })).status).toBe(401);
    expect((await t.client().post('/api/auth/login/mfa', { mfaTicket, code: totpNow(secret, clock, 1) })).status).toBe(200);
    const wrongPassword = await login('Not-The-Password-1');
    expect(wrongPassword.status).toBe(401);
    expect(wrongPassword.json.mfaTicket).toBeUndefined();
  });

  it('lets a ticket expire after five minutes', async () => {
    nextStep();
    nextStep();
    nextStep();
    const mfaTicket = (await login()).json.mfaTicket;
    clock.advance(301_000);
    const late = await t.client().post('/api/auth/login/mfa', { mfaTicket, code: totpNow(secret, clock) });
    expect(late.status).toBe(401);
    expect(late.json.error.code).toBe('invalid_mfa_ticket');
  });

  it('takes each backup code once and replaces the whole set on regeneration', async () => {
    const [first = '', second = ''] = backupCodes;
    const ok = await t.client().post('/api/auth/login/mfa', { mfaTicket: (await login()).json.mfaTicket, code: first.toUpperCase() });
    expect(ok.status).toBe(200);
    expect(events.filter((e) => e.type === 'backup_code_used').at(-1)?.detail?.remaining).toBe(9);
    expect((await admin.get('/api/me/mfa')).json.backupCodesRemaining).toBe(9);
    await reauth(admin, { password: STRONG_PASSWORD });
    const fresh = await admin.send('POST', '/api/me/mfa/backup-codes', {});
    expect(fresh.status).toBe(200);
    expect(fresh.json.backupCodes).toHaveLength(10);

    const mfaTicket = (await login()).json.mfaTicket;
    const tryCode = (code: string) => t.client().post('/api/auth/login/mfa', { mfaTicket, code });
    expect((await tryCode(first)).status).toBe(401); // used
    expect((await tryCode(second)).status).toBe(401); // from the replaced set
    expect((await tryCode(fresh.json.backupCodes[0])).status).toBe(200);
    backupCodes = fresh.json.backupCodes.slice(1);
  });

  it('gives scripts the same contract on /api/auth/token and /api/auth/token/mfa', async () => {
    nextStep();
    const first = await t.client().post('/api/auth/token', { username: 'admin', password: STRONG_PASSWORD });
    expect(first.json).toMatchObject({ mfaRequired: true, methods: ['totp', 'backup'] });
    expect(first.json.accessToken).toBeUndefined();
    const tokens = await t.client().post('/api/auth/token/mfa', { mfaTicket: first.json.mfaTicket, code: totpNow(secret, clock) });
    expect(tokens.status).toBe(200);
    expect(Object.keys(tokens.json).sort()).toEqual(['accessToken', 'expiresIn', 'passwordChangeRequired', 'refreshToken']);
    expect(tokens.setCookies).toEqual([]);
    expect(claimsOf(tokens.json.accessToken).amr).toEqual(['pwd', 'otp', 'mfa']);
    expect((await t.client().get('/api/admin/users', { bearer: tokens.json.accessToken, cookies: false })).status).toBe(200);
  });

  it('lets an admin reset a user’s second factors, ending their sessions', async () => {
    nextStep();
    const user = await createUser(t, admin, 'mfa-operator', 'operator', 'Operator-Password-77');
    // Only admins are held at enrollment; an operator works without MFA.
    expect((await user.client.get('/api/fleet/machines')).status).toBe(200);
    const enrolled = await enrollTotp(user.client, clock);
    nextStep();
    const asks = await t.client().post('/api/auth/login', { username: 'mfa-operator', password: 'Operator-Password-77' });
    expect(asks.json.mfaRequired).toBe(true);

    const reset = await admin.send('DELETE', `/api/admin/users/${user.id}/mfa`);
    expect(reset.status).toBe(200);
    expect((await user.client.get('/api/me')).status).toBe(401);
    const after = await t.client().post('/api/auth/login', { username: 'mfa-operator', password: 'Operator-Password-77' });
    expect(after.status).toBe(200);
    expect(after.json.mfaRequired).toBeUndefined();
    expect(after.json.user.username).toBe('mfa-operator');
    // The old backup codes went with the reset.
    expect(
      await t.server.services.sql.db.selectFrom('mfaBackupCodes').select('id').where('userId', '=', user.id).execute(),
    ).toEqual([]);
    expect(enrolled.backupCodes).toHaveLength(10);
    expect(events.filter((e) => e.type === 'mfa_reset')).toEqual([expect.objectContaining({ userId: user.id, actorId: expect.any(String) })]);
    expect((await admin.send('DELETE', '/api/admin/users/01890000-0000-7000-8000-000000000000/mfa')).status).toBe(404);
  });

  it('lets a user remove their authenticator app', async () => {
    const user = await createUser(t, admin, 'mfa-remover', 'viewer', 'Remover-Password-55');
    await enrollTotp(user.client, clock);
    nextStep();
    expect((await user.client.send('DELETE', '/api/me/mfa/totp')).status).toBe(200);
    expect((await user.client.get('/api/me/mfa')).json).toEqual({ totp: false, backupCodesRemaining: 0, passkeys: 0 });
    expect((await t.client().post('/api/auth/login', { username: 'mfa-remover', password: 'Remover-Password-55' })).json.mfaRequired).toBeUndefined();
    expect(events.some((e) => e.type === 'mfa_removed' && e.userId === user.id)).toBe(true);
  });

  it('reports every login outcome and MFA change through the one event bus', () => {
    const types = new Set(events.map((e) => e.type));
    for (const type of ['login_succeeded', 'login_failed', 'login_mfa_required', 'mfa_enrolled', 'backup_code_used', 'mfa_reset', 'mfa_removed'] as const) {
      expect(types, type).toContain(type);
    }
    const failure = events.find((e) => e.type === 'login_failed' && e.reason === 'bad_mfa_code');
    expect(failure).toMatchObject({ actorIp: '127.0.0.1', reason: 'bad_mfa_code' });
    expect(JSON.stringify(events)).not.toContain(STRONG_PASSWORD);
    expect(JSON.stringify(events)).not.toContain(secret);
  });
});
