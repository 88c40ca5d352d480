/**
 * Passkeys end to end in Debian's Chromium with the DevTools virtual
 * authenticator: the page is the server's own origin (https://localhost:<port>),
 * the API calls are made from the test, and only the WebAuthn ceremonies run
 * in the browser.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import type { HttpsClient } from '../harness/client.js';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { claimsOf, createUser, PERIMETER_RELAXED } from './mfa-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
type Json = Record<string, unknown>;

/** The slice of the browser's WebAuthn API the ceremonies use (the test compiles without DOM types). */
interface BrowserCredential {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  getClientExtensionResults(): object;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    getTransports?(): string[];
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
  };
}
interface BrowserCredentials {
  create(options: object): Promise<BrowserCredential>;
  get(options: object): Promise<BrowserCredential>;
}

/** Runs navigator.credentials.create/get in the page with options from the API, returning the credential as JSON. */
function ceremony(page: Page, mode: 'create' | 'get', options: Json): Promise<Json> {
  return page.evaluate(
    async ({ mode, options }) => {
      const credentials = (globalThis as unknown as { navigator: { credentials: BrowserCredentials } }).navigator.credentials;
      const bytes = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
      const text = (buf: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const o = options as Json & { challenge: string };
      const ids = (list: unknown) => ((list as Array<{ id: string }> | undefined) ?? []).map((c) => ({ ...c, id: bytes(c.id) }));
      if (mode === 'create') {
        const user = o.user as { id: string };
        const cred = await credentials.create({ publicKey: { ...o, challenge: bytes(o.challenge), user: { ...user, id: bytes(user.id) }, excludeCredentials: ids(o.excludeCredentials) } });
        const r = cred.response;
        return {
          id: cred.id,
          rawId: text(cred.rawId),
          type: cred.type,
          clientExtensionResults: cred.getClientExtensionResults(),
          response: { clientDataJSON: text(r.clientDataJSON), attestationObject: text(r.attestationObject as ArrayBuffer), transports: r.getTransports?.() ?? [] },
        };
      }
      const cred = await credentials.get({ publicKey: { ...o, challenge: bytes(o.challenge), allowCredentials: ids(o.allowCredentials) } });
      const r = cred.response;
      return {
        id: cred.id,
        rawId: text(cred.rawId),
        type: cred.type,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: text(r.clientDataJSON),
          authenticatorData: text(r.authenticatorData as ArrayBuffer),
          signature: text(r.signature as ArrayBuffer),
          ...(r.userHandle ? { userHandle: text(r.userHandle) } : {}),
        },
      };
    },
    { mode, options },
  );
}

describe.skipIf(!existsSync(CHROMIUM))('passkeys in Chromium with a virtual authenticator', () => {
  let t: TestServer;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  const events: IdentityEvent[] = [];
  let authenticatorId: string;
  let clearAuthenticator: () => Promise<void>;

  beforeAll(async () => {
    t = await startTestServer({ env: { ...PERIMETER_RELAXED, FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'true' } });
    t.server.services.identity.events.subscribe((e) => events.push(e));
    // Trust exactly this server's key, the way a pinned certificate would be.
    const spki = new X509Certificate(t.server.certificate.certPem).publicKey.export({ type: 'spki', format: 'der' });
    const pin = createHash('sha256').update(spki).digest('base64');
    profile = mkdtempSync(join(tmpdir(), 'flotilla-chromium-'));
    // A persistent context is how playwright takes a fresh --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--ignore-certificate-errors-spki-list=${pin}`,
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    const cdp = await browser.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
    clearAuthenticator = async () => {
      await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
    };
    const home = await page.goto(`https://localhost:${t.server.port}/healthz`);
    expect(home?.status()).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const post = (c: HttpsClient, path: string, body: unknown) => c.send('POST', path, body);
  async function registerPasskey(c: HttpsClient, name?: string) {
    const options = await post(c, '/api/me/passkeys/register/options', {});
    expect(options.status).toBe(200);
    expect(options.json.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    const response = await ceremony(page, 'create', options.json);
    return post(c, '/api/me/passkeys/register/verify', { response, ...(name ? { name } : {}) });
  }
  async function assertion(mfaTicket?: string) {
    const options = await t.client().post('/api/auth/webauthn/login/options', mfaTicket ? { mfaTicket } : {});
    expect(options.status).toBe(200);
    return { options: options.json, response: await ceremony(page, 'get', options.json) };
  }

  let admin: HttpsClient;

  it('an admin held at enrollment registers a passkey and may then administer', async () => {
    admin = t.client();
    await admin.post('/api/auth/login', { username: 'admin', password: t.adminPassword });
    await admin.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword: STRONG_PASSWORD });
    expect((await admin.get('/api/admin/users')).json.error.code).toBe('mfa_enrollment_required');
    const registered = await registerPasskey(admin, 'Admin laptop');
    expect(registered.status).toBe(200);
    expect(registered.json.passkey).toMatchObject({ name: 'Admin laptop', deviceType: 'singleDevice', backedUp: false });
    expect(claimsOf(admin).amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect((await admin.get('/api/admin/users')).status).toBe(200);
    // From here on the authenticator holds only the next user's passkey.
    await clearAuthenticator();
  });

  let user: { id: string; client: HttpsClient };
  let passkeyId: string;

  it('registers, lists and renames a user’s passkey', async () => {
    user = await createUser(t, admin, 'passkey-user', 'operator', 'Hardware-Key-Owner-1');
    const registered = await registerPasskey(user.client);
    expect(registered.status).toBe(200);
    passkeyId = registered.json.passkey.id;
    const renamed = await user.client.send('PATCH', `/api/me/passkeys/${passkeyId}`, { name: 'YubiKey' });
    expect(renamed.json.name).toBe('YubiKey');
    const list = await user.client.get('/api/me/passkeys');
    expect(list.json.items).toEqual([expect.objectContaining({ id: passkeyId, name: 'YubiKey', lastUsedAt: null })]);
    // The same authenticator cannot register twice: excludeCredentials names it.
    const twice = await registerPasskey(user.client).catch((err: Error) => err);
    expect(twice instanceof Error ? twice.message : twice.status).toMatch(/InvalidStateError|excluded|401|409/);
  });

  it('serves as the second factor after the password, bound to the ticket', async () => {
    const first = await t.client().post('/api/auth/login', { username: 'passkey-user', password: 'Hardware-Key-Owner-1' });
    expect(first.json).toMatchObject({ mfaRequired: true, methods: ['webauthn'] });
    const { options, response } = await assertion(first.json.mfaTicket);
    expect(options.allowCredentials).toHaveLength(1);
    // Without the ticket the same assertion does not log in.
    expect((await t.client().post('/api/auth/webauthn/login/verify', { response })).status).toBe(401);
    const again = await assertion(first.json.mfaTicket);
    const c = t.client();
    const done = await c.post('/api/auth/webauthn/login/verify', { response: again.response, mfaTicket: first.json.mfaTicket });
    expect(done.status).toBe(200);
    expect(done.json.user.username).toBe('passkey-user');
    expect(claimsOf(c).amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect((await c.get('/api/me')).status).toBe(200);
  });

  it('logs in without a password with a discoverable credential', async () => {
    const { options, response } = await assertion();
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    const c = t.client();
    const done = await c.post('/api/auth/webauthn/login/verify', { response });
    expect(done.status).toBe(200);
    expect(done.json.user.username).toBe('passkey-user');
    expect(claimsOf(c).amr).toEqual(['hwk', 'mfa']);
  });

  it('refuses a replayed assertion and one whose signature counter went backwards', async () => {
    const older = await assertion();
    const newer = await assertion();
    expect((await t.client().post('/api/auth/webauthn/login/verify', { response: newer.response })).status).toBe(200);
    // Same assertion again: its challenge is spent.
    expect((await t.client().post('/api/auth/webauthn/login/verify', { response: newer.response })).status).toBe(401);
    // Signed before the newer one, presented after it: the counter did not rise (a cloned key).
    const stale = await t.client().post('/api/auth/webauthn/login/verify', { response: older.response });
    expect(stale.status).toBe(401);
    expect(stale.json.error.code).toBe('passkey_failed');
  });

  it('still lets the owner in with a passkey while password logins are locked', async () => {
    for (let i = 0; i < 5; i++) await t.client().post('/api/auth/login', { username: 'passkey-user', password: `Wrong-${i}-Password` });
    expect((await admin.get(`/api/admin/users/${user.id}`)).json.status).toBe('locked');
    expect((await t.client().post('/api/auth/login', { username: 'passkey-user', password: 'Hardware-Key-Owner-1' })).status).toBe(401);
    const { response } = await assertion();
    const res = await t.client().post('/api/auth/webauthn/login/verify', { response });
    expect(res.status).toBe(200);
    expect(res.json.user.username).toBe('passkey-user');
  });

  it('proves a step-up with a passkey, only with a challenge bound to this session', async () => {
    const sid = claimsOf(user.client).sid as string;
    await t.server.services.kv.del(`stepup:${sid}`);
    expect((await user.client.send('DELETE', `/api/me/passkeys/${passkeyId}`)).json.error.code).toBe('reauthentication_required');
    // An assertion made for a login is not a proof for this session.
    const forLogin = await assertion();
    const refused = await user.client.send('POST', '/api/me/reauth', { passkey: forLogin.response });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('reauthentication_failed');
    const other = t.client();
    const otherLogin = await assertion();
    expect((await other.post('/api/auth/webauthn/login/verify', { response: otherLogin.response })).status).toBe(200);
    const options = await post(user.client, '/api/me/reauth/passkey/options', {});
    expect(options.json.allowCredentials).toEqual([expect.objectContaining({ type: 'public-key' })]);
    const response = await ceremony(page, 'get', options.json);
    // Nor is one bound to another session of the same user; the session it was made for may use it.
    expect((await other.send('POST', '/api/me/reauth', { passkey: response })).status).toBe(403);
    const proved = await user.client.send('POST', '/api/me/reauth', { passkey: response });
    expect(proved.status).toBe(200);
    expect(events.some((e) => e.type === 'reauthenticated' && e.detail?.method === 'passkey')).toBe(true);
  });

  it('removes a passkey, after which it no longer logs in', async () => {
    expect((await user.client.send('DELETE', `/api/me/passkeys/${passkeyId}`)).status).toBe(200);
    expect((await user.client.get('/api/me/passkeys')).json.items).toEqual([]);
    expect((await user.client.send('DELETE', `/api/me/passkeys/${passkeyId}`)).status).toBe(404);
    // The authenticator still has the key; the server no longer accepts it.
    const { response } = await assertion();
    expect((await t.client().post('/api/auth/webauthn/login/verify', { response })).status).toBe(401);
    expect(events.filter((e) => e.type.startsWith('passkey_')).map((e) => e.type)).toEqual(
      expect.arrayContaining(['passkey_registered', 'passkey_renamed', 'passkey_removed']),
    );
  });
});
