import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_COOKIE, CSRF_HEADER } from '../../src/identity/policy.js';
import { buildTestApp, type TestApp } from '../perimeter/helpers.js';

const PASSWORD = 'Policy-Route-Pass-31';

/** How a user route's declaration decides which credential forms it takes and whether a cookie change needs the CSRF header. */
describe('user route declarations, enforced', () => {
  let t: TestApp;
  let cookie: string;
  let csrf: string;
  let bearer: string;

  beforeAll(async () => {
    t = await buildTestApp();
    const ok = async () => ({ ok: true });
    t.app.post('/test/any', { config: { policy: { auth: 'user', role: 'viewer', scope: 'account' } } }, ok);
    t.app.post('/test/bearer-only', { config: { policy: { auth: 'user', role: 'viewer', scope: 'account', credentials: 'bearer' } } }, ok);
    t.app.post('/test/csrf-exempt', { config: { policy: { auth: 'user', role: 'viewer', scope: 'account', csrf: { exempt: 'answers nothing but a constant' } } } }, ok);
    await t.app.ready();
    await t.services.identity.users.create({ username: 'policy-user', password: PASSWORD, role: 'viewer', mustChangePassword: false }, { id: null, ip: null });
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'policy-user', password: PASSWORD } });
    expect(login.statusCode).toBe(200);
    cookie = `${ACCESS_COOKIE}=${login.cookies.find((c) => c.name === ACCESS_COOKIE)?.value ?? ''}`;
    csrf = login.json().csrfToken;
    const token = await t.app.inject({ method: 'POST', url: '/api/auth/token', payload: { username: 'policy-user', password: PASSWORD } });
    bearer = `Bearer ${token.json().accessToken}`;
  });
  afterAll(async () => t?.close());

  const post = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'POST', url, headers });

  it('takes the cookie or the bearer by default, and a cookie change needs the CSRF header', async () => {
    expect((await post('/test/any', { authorization: bearer })).statusCode).toBe(200);
    expect((await post('/test/any', { cookie, [CSRF_HEADER]: csrf })).statusCode).toBe(200);
    const forged = await post('/test/any', { cookie });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().error.code).toBe('csrf_failed');
  });

  it('refuses the cookie on a route that declares bearer credentials only', async () => {
    expect((await post('/test/bearer-only', { authorization: bearer })).statusCode).toBe(200);
    const res = await post('/test/bearer-only', { cookie, [CSRF_HEADER]: csrf });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it('skips the CSRF header only where the exemption is declared', async () => {
    expect((await post('/test/csrf-exempt', { cookie })).statusCode).toBe(200);
    expect(t.app.routeCatalog.find((r) => r.url === '/test/csrf-exempt')?.policy).toMatchObject({ csrf: { exempt: 'answers nothing but a constant' } });
  });
});
