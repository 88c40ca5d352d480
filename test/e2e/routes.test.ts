import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type RoutePolicy } from '../../src/protocol/route-policy.js';
import { installRoutePolicy } from '../../src/server/policy.js';
import type { HttpsClient, Reply } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { facts, fleetFixture, post, readEventStream, report, seal } from '../fleet/agent-sim.js';

const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';
const FAKE_ASSERTION = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' } };
const FAKE_REGISTRATION = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } };
const USER_PASSWORD = 'Route-Test-Password-1';
/** Every step that checks a password, a second factor or a passkey assertion. */
const LOGIN_STEPS = ['/api/auth/login', '/api/auth/token', '/api/auth/login/mfa', '/api/auth/token/mfa', '/api/auth/webauthn/login/verify'];

/** Keys that must never appear in any response body (passwordChangeRequired is a flag, not a secret). */
const FORBIDDEN_KEY = /(password|passwordhash|hash|secret|pepper|salt|tokenhash|privatekey|sealingkeymaterial|apikeyhash)$/i;

function forbiddenKeys(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => forbiddenKeys(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [...(FORBIDDEN_KEY.test(k) ? [`${path}.${k}`] : []), ...forbiddenKeys(v, `${path}.${k}`)]);
}

describe('every route declares its policy and its response schema', () => {
  it('stops the boot when a route declares no policy', async () => {
    const app = Fastify();
    installRoutePolicy(app, { sessions: {} as never, csrfKey: new Uint8Array(32) });
    expect(() => app.get('/undeclared', async () => 'x')).toThrow(/declares no policy/);
  });

  it('stops the boot on a declaration it would not enforce as written', async () => {
    const app = Fastify();
    installRoutePolicy(app, { sessions: {} as never, csrfKey: new Uint8Array(32) });
    const declare = (method: 'get' | 'post', policy: unknown) => () => app[method](`/p${Math.random()}`, { config: { policy: policy as RoutePolicy } }, async () => 'x');
    expect(declare('get', { auth: 'user', role: 'viewer' })).toThrow(/names its scope/);
    expect(declare('get', { auth: 'user', role: 'viewer', scope: 'everything' })).toThrow(/names its scope/);
    expect(declare('get', { auth: 'user', role: 'root', scope: 'account' })).toThrow(/unknown role/);
    expect(declare('get', { auth: 'session' })).toThrow(/unknown auth kind/);
    expect(declare('post', { auth: 'user', role: 'viewer', scope: 'account', csrf: { exempt: ' ' } })).toThrow(/exempt from CSRF states why/);
    expect(declare('post', { auth: 'user', role: 'viewer', scope: 'account', csrf: 'off' })).toThrow(/exempt from CSRF states why/);
    expect(declare('get', { auth: 'user', role: 'viewer', scope: 'account', credentials: 'cookie' })).toThrow(/unknown credentials/);
    expect(declare('post', { auth: 'user', role: 'admin', scope: 'users:admin' })).toThrow(/names the resource it audits/);
    // Metrics routes need the token settings to check against.
    expect(declare('get', { auth: 'metrics' })).toThrow(/metrics token settings/);
    expect(declare('get', { auth: 'user', role: 'admin', scope: 'users:admin' })).not.toThrow();
    expect(declare('post', { auth: 'user', role: 'viewer', scope: 'account', csrf: { exempt: 'verified by a signature over the body' } })).not.toThrow();
  });

  describe('on a running server', () => {
    let t: TestServer;
    let admin: HttpsClient;
    let adminBearer: string;
    let viewerBearer: string;
    let userId: string;

    beforeAll(async () => {
      t = await startTestServer();
      admin = await adminClient(t);
      adminBearer = (await t.client().post('/api/auth/token', { username: 'admin', password: 'Correct-Horse-Battery-9' })).json.accessToken;
      const viewer = await admin.send('POST', '/api/admin/users', { username: 'route-viewer', password: USER_PASSWORD, role: 'viewer' });
      userId = viewer.json.id;
      const vc = t.client();
      await vc.post('/api/auth/login', { username: 'route-viewer', password: USER_PASSWORD });
      await vc.send('POST', '/api/me/password', { currentPassword: USER_PASSWORD, newPassword: 'Viewer-Changed-Pass-2' });
      viewerBearer = (await t.client().post('/api/auth/token', { username: 'route-viewer', password: 'Viewer-Changed-Pass-2' })).json.accessToken;
    });
    afterAll(async () => {
      await t?.close();
    });

    const catalog = () => t.server.app.routeCatalog;
    const fill = (url: string, id = UNKNOWN_ID) => url.replace(/:[a-z]+/g, id);

    it('has a policy and a response schema on every route', () => {
      expect(catalog().length).toBeGreaterThan(15);
      for (const route of catalog()) {
        expect(route.policy, `${route.method} ${route.url}`).toBeDefined();
        expect(route.hasResponseSchema, `${route.method} ${route.url} has no response schema`).toBe(true);
      }
    });

    it('shows every route\'s full policy: user routes their scope and CSRF, /metrics its token, login steps the login limit', () => {
      const users = catalog().filter((r) => r.policy.auth === 'user');
      expect(users.length).toBeGreaterThan(30);
      for (const route of users) {
        const policy = route.policy as Extract<RoutePolicy, { auth: 'user' }>;
        expect(SCOPES, `${route.method} ${route.url}`).toContain(policy.scope);
        expect(policy.credentials, `${route.method} ${route.url}`).toBe('any');
        expect(policy.csrf, `${route.method} ${route.url}`).toBe('required');
        if (route.url.startsWith('/api/admin/')) expect(policy.role, route.url).toBe('admin');
      }
      expect(catalog().filter((r) => r.url === '/metrics').map((r) => r.policy.auth)).toEqual(['metrics', 'metrics']);
      for (const url of LOGIN_STEPS) expect(catalog().find((r) => r.url === url && r.method === 'POST')?.policy, url).toEqual({ auth: 'none', rateLimit: 'login' });
      // Nothing else draws on the failed-login budget.
      expect(catalog().filter((r) => r.policy.rateLimit === 'login').map((r) => r.url).sort()).toEqual([...LOGIN_STEPS].sort());
      const open = new Set(catalog().filter((r) => r.policy.auth === 'none').map((r) => r.url));
      expect([...open].sort()).toEqual(
        ['/', '/*', '/api/agent/enroll', '/api/auth/refresh', '/api/auth/webauthn/login/options', '/api/openapi.json', '/assets/*', '/healthz', '/readyz', ...LOGIN_STEPS].sort(),
      );
    });

    it('answers a viewer 403 forbidden on every admin route', async () => {
      const adminRoutes = catalog().filter((r) => r.url.startsWith('/api/admin/') && r.method !== 'HEAD');
      expect(adminRoutes.length).toBeGreaterThanOrEqual(8);
      for (const route of adminRoutes) {
        const res = await t.client().request(route.method, fill(route.url), { bearer: viewerBearer, cookies: false, body: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
        expect(res.status, `${route.method} ${route.url}`).toBe(403);
        expect(res.json.error.code).toBe('forbidden');
      }
    });

    it('answers 401 on every authenticated route without credentials', async () => {
      for (const route of catalog().filter((r) => r.policy.auth !== 'none' && r.method !== 'HEAD')) {
        const res = await t.client().request(route.method, fill(route.url), { cookies: false });
        expect(res.status, `${route.method} ${route.url}`).toBe(401);
      }
    });

    it('never returns a password, hash, secret, pepper or salt from any route', async () => {
      const victim = (await admin.send('POST', '/api/admin/users', { username: 'scan-target', password: USER_PASSWORD, role: 'operator' })).json;
      const tokens = (await t.client().post('/api/auth/token', { username: 'scan-target', password: USER_PASSWORD })).json;
      const sid = (await admin.get(`/api/admin/users/${victim.id}/sessions`)).json.items[0]?.id ?? UNKNOWN_ID;
      const bearer = { bearer: adminBearer, cookies: false };
      const fleet = await fleetFixture(admin, t.client());
      let commandId = UNKNOWN_ID;
      const calls: Record<string, () => Promise<Reply>> = {
        'GET /healthz': () => admin.get('/healthz'),
        'GET /readyz': () => admin.get('/readyz'),
        'POST /api/auth/login': () => t.client().post('/api/auth/login', { username: 'scan-target', password: USER_PASSWORD }),
        'POST /api/auth/token': () => t.client().post('/api/auth/token', { username: 'scan-target', password: USER_PASSWORD }),
        'POST /api/auth/refresh': () => t.client().post('/api/auth/refresh', { refreshToken: tokens.refreshToken }, { cookies: false }),
        'GET /api/me': () => admin.get('/api/me'),
        'GET /api/me/sessions': () => admin.get('/api/me/sessions'),
        'POST /api/me/password': () => t.client().post('/api/me/password', { currentPassword: USER_PASSWORD, newPassword: 'Scan-Target-Changed-3' }, { bearer: tokens.accessToken, cookies: false }),
        'GET /api/admin/users': () => admin.get('/api/admin/users'),
        'POST /api/admin/users': () => admin.send('POST', '/api/admin/users', { username: 'scan-created', password: USER_PASSWORD, role: 'viewer' }),
        'GET /api/admin/users/:id': () => admin.get(`/api/admin/users/${victim.id}`),
        'PATCH /api/admin/users/:id': () => admin.send('PATCH', `/api/admin/users/${victim.id}`, { role: 'viewer' }),
        'POST /api/admin/users/:id/password': () => admin.send('POST', `/api/admin/users/${victim.id}/password`, { password: 'Reset-By-Admin-Pass-4' }),
        'GET /api/admin/users/:id/sessions': () => admin.get(`/api/admin/users/${victim.id}/sessions`),
        'DELETE /api/admin/users/:id/sessions/:sid': () => admin.send('DELETE', `/api/admin/users/${victim.id}/sessions/${sid}`),
        'DELETE /api/me/sessions/:id': () => t.client().request('DELETE', `/api/me/sessions/${UNKNOWN_ID}`, bearer),
        'DELETE /api/admin/users/:id': () => admin.send('DELETE', `/api/admin/users/${victim.id}`),
        'POST /api/agent/enroll': () => t.client().post('/api/agent/enroll', { token: fleet.token, facts: facts({ hostname: 'scan-enroll' }) }, { cookies: false }),
        'POST /api/agent/report': () => post(t.client(), fleet.agent, seal(fleet.agent, [report(Date.now())], { ts: Date.now() })),
        'POST /api/admin/enrollment-tokens': () => admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 600, maxUses: 1 }),
        'GET /api/admin/enrollment-tokens': () => admin.get('/api/admin/enrollment-tokens'),
        'GET /api/admin/agents': () => admin.get('/api/admin/agents'),
        'GET /api/fleet/summary': () => admin.get('/api/fleet/summary'),
        'GET /api/fleet/machines': () => admin.get('/api/fleet/machines'),
        'GET /api/fleet/machines/:id': () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}`),
        'GET /api/fleet/machines/:id/history': () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}/history`),
        'PUT /api/fleet/machines/:id/tags': () => admin.send('PUT', `/api/fleet/machines/${fleet.agent.agentId}/tags`, { tags: ['scan'] }),
        'GET /api/fleet/tags': () => admin.get('/api/fleet/tags'),
        'POST /api/commands': async () => {
          const res = await admin.send('POST', '/api/commands', { action: 'ping', params: {}, targets: { machines: [fleet.agent.agentId] } });
          commandId = res.json.id;
          return res;
        },
        'GET /api/commands': () => admin.get('/api/commands'),
        'GET /api/commands/:id': () => admin.get(`/api/commands/${commandId}`),
        'GET /api/commands/:id/results': () => admin.get(`/api/commands/${commandId}/results`),
        'POST /api/commands/:id/approve': () => admin.send('POST', `/api/commands/${commandId}/approve`, {}),
        'POST /api/commands/:id/reject': () => admin.send('POST', `/api/commands/${commandId}/reject`, {}),
        'POST /api/commands/:id/cancel': () => admin.send('POST', `/api/commands/${commandId}/cancel`),
        'GET /api/fleet/machines/:id/commands': () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}/commands`),
        'POST /api/agent/commands/:id/result': () => t.client().post(`/api/agent/commands/${commandId}/result`, seal(fleet.agent, [], { ts: Date.now() }), { bearer: fleet.agent.apiKey, cookies: false }),
        'GET /api/fleet/events': () => readEventStream(t.server.port, t.server.certificate.certPem, adminBearer),
        'POST /api/admin/agents/:id/rotate': () => admin.send('POST', `/api/admin/agents/${fleet.agent.agentId}/rotate?apiKey=true`),
        'POST /api/admin/agents/:id/revoke': () => admin.send('POST', `/api/admin/agents/${fleet.agent.agentId}/revoke`),
        'POST /api/admin/agents/:id/decommission': () => admin.send('POST', `/api/admin/agents/${fleet.spare.agentId}/decommission`),
        'DELETE /api/admin/enrollment-tokens/:id': () => admin.send('DELETE', `/api/admin/enrollment-tokens/${fleet.tokenId}`),
        'POST /api/auth/login/mfa': () => t.client().post('/api/auth/login/mfa', { mfaTicket: `mft_${'A'.repeat(43)}`, code: '123456' }),
        'POST /api/auth/token/mfa': () => t.client().post('/api/auth/token/mfa', { mfaTicket: `mft_${'A'.repeat(43)}`, code: '123456' }),
        'POST /api/auth/webauthn/login/options': () => t.client().post('/api/auth/webauthn/login/options', {}),
        'POST /api/auth/webauthn/login/verify': () => t.client().post('/api/auth/webauthn/login/verify', { response: FAKE_ASSERTION }),
        'GET /api/me/mfa': () => t.client().request('GET', '/api/me/mfa', bearer),
        'POST /api/me/mfa/totp/setup': () => t.client().request('POST', '/api/me/mfa/totp/setup', { ...bearer, body: {} }),
        'POST /api/me/mfa/totp/confirm': () => t.client().request('POST', '/api/me/mfa/totp/confirm', { ...bearer, body: { code: '000000' } }),
        'DELETE /api/me/mfa/totp': () => t.client().request('DELETE', '/api/me/mfa/totp', bearer),
        'POST /api/me/mfa/backup-codes': () => t.client().request('POST', '/api/me/mfa/backup-codes', { ...bearer, body: {} }),
        'GET /api/me/passkeys': () => t.client().request('GET', '/api/me/passkeys', bearer),
        'POST /api/me/passkeys/register/options': () => t.client().request('POST', '/api/me/passkeys/register/options', { ...bearer, body: {} }),
        'POST /api/me/passkeys/register/verify': () => t.client().request('POST', '/api/me/passkeys/register/verify', { ...bearer, body: { response: FAKE_REGISTRATION } }),
        'PATCH /api/me/passkeys/:id': () => t.client().request('PATCH', `/api/me/passkeys/${UNKNOWN_ID}`, { ...bearer, body: { name: 'laptop' } }),
        'DELETE /api/me/passkeys/:id': () => t.client().request('DELETE', `/api/me/passkeys/${UNKNOWN_ID}`, bearer),
        'POST /api/me/reauth': () => t.client().request('POST', '/api/me/reauth', { ...bearer, body: { password: 'Not-The-Password-1' } }),
        'POST /api/me/reauth/passkey/options': () => t.client().request('POST', '/api/me/reauth/passkey/options', { ...bearer, body: {} }),
        'DELETE /api/admin/users/:id/mfa': () => admin.send('DELETE', `/api/admin/users/${UNKNOWN_ID}/mfa`),
        'GET /api/admin/security/blocks': () => admin.get('/api/admin/security/blocks'),
        'DELETE /api/admin/security/blocks/:ip': () => admin.send('DELETE', '/api/admin/security/blocks/192.0.2.1'),
        'GET /api/dashboard/settings': () => admin.get('/api/dashboard/settings'),
        'GET /': () => admin.get('/'),
        'GET /assets/*': () => admin.get('/assets/missing.js'),
        'GET /*': () => admin.get('/machines'),
        'GET /api/admin/audit': () => admin.get('/api/admin/audit'),
        'GET /api/admin/audit/verify': () => admin.get('/api/admin/audit/verify'),
        // CSV: the JSON export carries the chain's own prevHash/hash (integrity values, not credentials) by design.
        'GET /api/admin/audit/export': () => admin.get('/api/admin/audit/export?format=csv'),
        'GET /api/admin/security/events': () => admin.get('/api/admin/security/events'),
        'GET /metrics': () => admin.get('/metrics'),
        'POST /api/auth/logout': () => t.client().post('/api/auth/logout', undefined, bearer),
      };
      // The OpenAPI document describes field names; it carries no values.
      const routes = catalog().filter((r) => r.method !== 'HEAD' && r.url !== '/api/openapi.json');
      for (const route of routes) expect(calls, `add a call for ${route.method} ${route.url}`).toHaveProperty([`${route.method} ${route.url}`]);
      for (const [name, call] of Object.entries(calls)) {
        const res = await call();
        expect(res.status, `${name}: ${res.text}`).toBeLessThan(500);
        expect(forbiddenKeys(res.json), name).toEqual([]);
      }
    });

    it('answers malformed, mistyped, unknown, oversized and odd input with a clear 4xx and changes nothing', async () => {
      // Earlier tests log sessions out; this one brings its own.
      const adminBearer = (await t.client().post('/api/auth/token', { username: 'admin', password: 'Correct-Horse-Battery-9' })).json.accessToken;
      const bodyRoutes = catalog().filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method) && r.url !== '/api/auth/logout');
      const snapshot = async () => (await admin.get('/api/admin/users?limit=500')).json.items;
      const before = await snapshot();
      const sessionsBefore = (await admin.get('/api/me/sessions')).json.items.length;
      const odd = ['\u0000', '\ud800', '\u202e<script>alert(1)</script>', '%_\'"\\', '🚀'.repeat(5000), 'é'.repeat(2000)];
      for (const route of bodyRoutes) {
        const url = fill(route.url, userId);
        const send = (opts: Parameters<HttpsClient['request']>[2]) => t.client().request(route.method, url, { bearer: adminBearer, cookies: false, ...opts });
        const cases: Array<[string, () => Promise<Reply>, number[]]> = [
          ['malformed JSON', () => send({ raw: '{"username": ', headers: { 'content-type': 'application/json' } }), [400]],
          ['array body', () => send({ body: [1, 2] }), [400]],
          ['wrong types', () => send({ body: { username: 1, password: true, role: [], currentPassword: 5, newPassword: {}, refreshToken: 7, status: 3 } }), [400]],
          ['unknown field', () => send({ body: { unexpected: 'x' } }), [400]],
          ['not JSON', () => send({ raw: 'username=admin', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), [415]],
          ['oversized', () => send({ raw: JSON.stringify({ username: 'x'.repeat(route.url.endsWith('/result') ? 2_200_000 : 1_100_000) }), headers: { 'content-type': 'application/json' } }), [413]],
          ['__proto__', () => send({ raw: '{"__proto__": {"role": "admin"}}', headers: { 'content-type': 'application/json' } }), [400]],
        ];
        for (const value of odd) {
          cases.push([`odd unicode ${JSON.stringify(value).slice(0, 12)}`, () => send({ body: { username: value, password: value, role: 'viewer', currentPassword: value, newPassword: value, refreshToken: value } }), [400, 401, 403, 404, 409]]);
        }
        for (const [name, call, statuses] of cases) {
          const res = await call();
          expect(statuses, `${route.method} ${route.url} ${name}: ${res.status} ${res.text.slice(0, 200)}`).toContain(res.status);
          expect(res.json?.error?.code, `${route.method} ${route.url} ${name}`).toMatch(/^[a-z_]+$/);
          expect(res.json.error.message.length).toBeGreaterThan(5);
          expect(res.text).not.toMatch(/at .*\.(ts|js):\d+/);
        }
      }
      expect(await snapshot()).toEqual(before);
      expect((await admin.get('/api/me/sessions')).json.items.length).toBe(sessionsBefore);
    });

    it('names the offending field in a schema error', async () => {
      const res = await admin.send('POST', '/api/admin/users', { username: 'field-test', password: USER_PASSWORD, role: 'root' });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_body');
      expect(res.json.error.message).toMatch(/role/);
      const extra = await admin.send('POST', '/api/admin/users', { username: 'field-test', password: USER_PASSWORD, role: 'viewer', isAdmin: true });
      expect(extra.json.error.message).toMatch(/unknown field "isAdmin"/);
    });

    it('answers unknown routes 404 not_found', async () => {
      const res = await admin.get('/api/nope');
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: { code: 'not_found', message: 'no such route' } });
    });
  });
});
