import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import type { HttpsClient, Reply } from '../harness/client.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { claimsOf, PERIMETER_RELAXED } from './mfa-helpers.js';

/** A Set-Cookie line with its value blanked, so real and decoy cookies compare by name and attributes. */
const cookieShape = (line: string) =>
  line
    .replace(/^([^=]+)=[^;]*/, '$1=…')
    .replace(/Expires=[^;]+/i, 'Expires=…')
    // Lives are whole seconds counted from "now": a second boundary may fall between two logins.
    .replace(/Max-Age=(\d+)/i, (_m, n: string) => `Max-Age≈${Math.round(Number(n) / 10)}`);

describe('honey accounts', () => {
  let t: TestServer;
  let admin: HttpsClient;
  const events: IdentityEvent[] = [];

  beforeAll(async () => {
    t = await startTestServer({ env: PERIMETER_RELAXED });
    t.server.services.identity.events.subscribe((e) => events.push(e));
    admin = await adminClient(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const honeyLogin = (c = t.client(), password = 'Guessed-Anything-1') =>
    c.request('POST', '/api/auth/login', { body: { username: 'admin_backup', password }, headers: { 'user-agent': 'sqlmap/1.8' } });

  it('answers any password like a real login: status, body shape and cookies', async () => {
    const real = await t.client().post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD });
    const decoy = await honeyLogin();
    expect(decoy.status).toBe(200);
    expect(Object.keys(decoy.json).sort()).toEqual(Object.keys(real.json).sort());
    expect(Object.keys(decoy.json.user).sort()).toEqual(Object.keys(real.json.user).sort());
    expect(decoy.json.user).toMatchObject({ username: 'admin_backup', role: 'admin', status: 'active', passwordChangeRequired: false });
    expect(decoy.setCookies.map(cookieShape)).toEqual(real.setCookies.map(cookieShape));
    // Nothing in the token tells it apart from a real one.
    const accessOf = (reply: Reply) => reply.setCookies.find((l) => l.startsWith('__Host-flotilla_access='))?.split(';')[0]?.split('=')[1] ?? '';
    expect(Object.keys(claimsOf(accessOf(decoy))).sort()).toEqual(Object.keys(claimsOf(accessOf(real))).sort());
    const another = await honeyLogin(t.client(), 'A-Different-Guess-2');
    expect(another.status).toBe(200);
    expect(another.json.user.id).toBe(decoy.json.user.id);
  });

  it('raises an incident event with IP, user agent and time', async () => {
    const before = Date.now();
    await honeyLogin();
    const hit = events.filter((e) => e.type === 'honey_hit').at(-1);
    expect(hit).toMatchObject({ actorIp: '127.0.0.1', username: 'admin_backup', detail: expect.objectContaining({ userAgent: 'sqlmap/1.8' }) });
    expect(hit?.at).toBeGreaterThanOrEqual(before - 1000);
    expect(events.some((e) => e.type === 'login_succeeded' && e.username === 'admin_backup')).toBe(false);
  });

  it('shows the decoy only fabricated data and lets it change nothing', async () => {
    const c = t.client();
    await honeyLogin(c);
    const me = await c.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.json.user.username).toBe('admin_backup');

    const users = await c.get('/api/admin/users');
    expect(users.status).toBe(200);
    expect(users.json.items.length).toBeGreaterThan(0.6);
    const realUsers = (await admin.get('/api/admin/users')).json.items.map((u: { username: string }) => u.username);
    for (const u of users.json.items) expect(realUsers).not.toContain(u.username);

    const machines = await c.get('/api/fleet/machines');
    expect(machines.status).toBe(200);
    expect(machines.json.items.length).toBeGreaterThan(0.6);
    expect(machines.json.items[0]).toMatchObject({ hostname: expect.any(String), status: 'online' });
    expect((await c.get('/api/fleet/summary')).status).toBe(200);
    expect((await c.get('/api/me/sessions')).status).toBe(200);

    const writes: Reply[] = [
      await c.send('POST', '/api/admin/users', { username: 'planted', password: 'Planted-Password-1', role: 'admin' }),
      await c.send('POST', '/api/me/password', { currentPassword: 'x', newPassword: 'Another-Password-2' }),
      await c.send('POST', '/api/me/mfa/totp/setup', {}),
      await c.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 600, maxUses: 1 }),
    ];
    for (const res of writes) {
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('forbidden');
    }
    expect((await admin.get('/api/admin/users')).json.items.map((u: { username: string }) => u.username)).not.toContain('planted');
    expect((await admin.get('/api/admin/enrollment-tokens')).json.items).toEqual([]);
  });

  it('works the same for scripts on /api/auth/token', async () => {
    const tokens = await t.client().post('/api/auth/token', { username: 'system_test', password: 'whatever' });
    expect(tokens.status).toBe(200);
    expect(Object.keys(tokens.json).sort()).toEqual(['accessToken', 'expiresIn', 'passwordChangeRequired', 'refreshToken']);
    const bearer = { bearer: tokens.json.accessToken, cookies: false };
    expect((await t.client().get('/api/me', bearer)).json.user).toMatchObject({ username: 'system_test', role: 'operator' });
    expect((await t.client().request('DELETE', '/api/me/sessions/01890000-0000-7000-8000-000000000000', bearer)).status).toBe(403);
  });

  it('takes as long as a real login (a dummy argon2 verification runs)', async () => {
    const time = async (username: string, password: string) => {
      const start = process.hrtime.bigint();
      expect((await t.client().post('/api/auth/login', { username, password })).status).toBe(200);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const real: number[] = [];
    const honey: number[] = [];
    for (let i = 0; i < 10; i++) {
      real.push(await time('admin', STRONG_PASSWORD));
      honey.push(await time('admin_backup', `Guess-${i}`));
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
    // Without the dummy verification a decoy login would take a few ms against a
    // real one's argon2 hundreds: a 0.5 floor catches that and survives a loaded machine.
    expect(median(honey) / median(real), `honey ${median(honey).toFixed(1)} ms, real ${median(real).toFixed(1)} ms`).toBeGreaterThan(0.5);
  });
});
