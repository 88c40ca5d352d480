import { randomBytes } from 'node:crypto';
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
const METRICS_TOKEN = randomBytes(24).toString('base64url');

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
      t = await startTestServer({ env: { FLOTILLA_METRICS_TOKEN: METRICS_TOKEN } });
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

    it('has a response schema on every route, and opens to anonymous callers and agents only the routes meant for them', () => {
      expect(catalog().length).toBeGreaterThan(15);
      for (const route of catalog()) expect(route.hasResponseSchema, `${route.method} ${route.url} has no response schema`).toBe(true);
      const withAuth = (auth: string) => catalog().filter((r) => r.policy.auth === auth && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort();
      // The dashboard's pages, health, the API description, sign-in itself and enrollment (a one-time token in the body).
      expect(withAuth('none')).toEqual([
        'GET /',
        'GET /*',
        'GET /api/openapi.json',
        'GET /assets/*',
        'GET /healthz',
        'GET /readyz',
        'POST /api/agent/enroll',
        'POST /api/auth/login',
        'POST /api/auth/login/mfa',
        'POST /api/auth/refresh',
        'POST /api/auth/token',
        'POST /api/auth/token/mfa',
        'POST /api/auth/webauthn/login/options',
        'POST /api/auth/webauthn/login/verify',
      ]);
      expect(withAuth('agent')).toEqual(['GET /api/agent/channel', 'POST /api/agent/commands/:id/result', 'POST /api/agent/report']);
      expect(withAuth('metrics')).toEqual(['GET /metrics']);
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
        expect(res.json.error.code, `${route.method} ${route.url}`).toBe('unauthorized');
      }
    });

    it('never returns a password, hash, secret, pepper or salt from any route', async () => {
      const victim = (await admin.send('POST', '/api/admin/users', { username: 'scan-target', password: USER_PASSWORD, role: 'operator' })).json;
      // Separate sessions: refreshing one retires its access token, changing the password ends the others.
      const refreshing = (await t.client().post('/api/auth/token', { username: 'scan-target', password: USER_PASSWORD })).json;
      const changing = (await t.client().post('/api/auth/token', { username: 'scan-target', password: USER_PASSWORD })).json;
      const bearer = { bearer: adminBearer, cookies: false };
      const fleet = await fleetFixture(admin, t.client());
      // A session of the victim made just before an admin ends it (earlier calls end the victim's older ones).
      const endVictimSession = async () => {
        await t.client().post('/api/auth/token', { username: 'scan-target', password: 'Reset-By-Admin-Pass-4' });
        const sid = (await admin.get(`/api/admin/users/${victim.id}/sessions`)).json.items[0]?.id ?? UNKNOWN_ID;
        return admin.send('DELETE', `/api/admin/users/${victim.id}/sessions/${sid}`);
      };
      const ticket = `mft_${'A'.repeat(43)}`;
      let commandId = UNKNOWN_ID;
      // Each call with the status it must get, and the error code where it is refused.
      const calls: Record<string, [status: number, call: () => Promise<Reply>, code?: string]> = {
        'GET /healthz': [200, () => admin.get('/healthz')],
        'GET /readyz': [200, () => admin.get('/readyz')],
        'POST /api/auth/login': [200, () => t.client().post('/api/auth/login', { username: 'scan-target', password: USER_PASSWORD })],
        'POST /api/auth/token': [200, () => t.client().post('/api/auth/token', { username: 'scan-target', password: USER_PASSWORD })],
        'POST /api/auth/refresh': [200, () => t.client().post('/api/auth/refresh', { refreshToken: refreshing.refreshToken }, { cookies: false })],
        'GET /api/me': [200, () => admin.get('/api/me')],
        'GET /api/me/sessions': [200, () => admin.get('/api/me/sessions')],
        'POST /api/me/password': [200, () => t.client().post('/api/me/password', { currentPassword: USER_PASSWORD, newPassword: 'Operator-Changed-Pass-3' }, { bearer: changing.accessToken, cookies: false })],
        'GET /api/admin/users': [200, () => admin.get('/api/admin/users')],
        'POST /api/admin/users': [201, () => admin.send('POST', '/api/admin/users', { username: 'scan-created', password: USER_PASSWORD, role: 'viewer' })],
        'GET /api/admin/users/:id': [200, () => admin.get(`/api/admin/users/${victim.id}`)],
        'PATCH /api/admin/users/:id': [200, () => admin.send('PATCH', `/api/admin/users/${victim.id}`, { role: 'viewer' })],
        'POST /api/admin/users/:id/password': [200, () => admin.send('POST', `/api/admin/users/${victim.id}/password`, { password: 'Reset-By-Admin-Pass-4' })],
        'GET /api/admin/users/:id/sessions': [200, () => admin.get(`/api/admin/users/${victim.id}/sessions`)],
        'DELETE /api/admin/users/:id/sessions/:sid': [200, endVictimSession],
        'DELETE /api/me/sessions/:id': [404, () => t.client().request('DELETE', `/api/me/sessions/${UNKNOWN_ID}`, bearer), 'session_not_found'],
        'DELETE /api/admin/users/:id': [200, () => admin.send('DELETE', `/api/admin/users/${victim.id}`)],
        'POST /api/agent/enroll': [201, () => t.client().post('/api/agent/enroll', { token: fleet.token, facts: facts({ hostname: 'scan-enroll' }) }, { cookies: false })],
        'POST /api/agent/report': [200, () => post(t.client(), fleet.agent, seal(fleet.agent, [report(Date.now())], { ts: Date.now() }))],
        'POST /api/admin/enrollment-tokens': [201, () => admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 600, maxUses: 1 })],
        'GET /api/admin/enrollment-tokens': [200, () => admin.get('/api/admin/enrollment-tokens')],
        'GET /api/admin/agents': [200, () => admin.get('/api/admin/agents')],
        'GET /api/fleet/summary': [200, () => admin.get('/api/fleet/summary')],
        'GET /api/fleet/machines': [200, () => admin.get('/api/fleet/machines')],
        'GET /api/fleet/machines/:id': [200, () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}`)],
        'GET /api/fleet/machines/:id/history': [200, () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}/history`)],
        'PUT /api/fleet/machines/:id/tags': [200, () => admin.send('PUT', `/api/fleet/machines/${fleet.agent.agentId}/tags`, { tags: ['scan'] })],
        'GET /api/fleet/tags': [200, () => admin.get('/api/fleet/tags')],
        'POST /api/commands': [
          201,
          async () => {
            const res = await admin.send('POST', '/api/commands', { action: 'ping', params: {}, targets: { machines: [fleet.agent.agentId] } });
            commandId = res.json.id;
            return res;
          },
        ],
        'GET /api/commands': [200, () => admin.get('/api/commands')],
        'GET /api/commands/:id': [200, () => admin.get(`/api/commands/${commandId}`)],
        'GET /api/commands/:id/results': [200, () => admin.get(`/api/commands/${commandId}/results`)],
        // A ping needs no approval, and no admin decides on their own request.
        'POST /api/commands/:id/approve': [403, () => admin.send('POST', `/api/commands/${commandId}/approve`, {}), 'own_request'],
        'POST /api/commands/:id/reject': [403, () => admin.send('POST', `/api/commands/${commandId}/reject`, {}), 'own_request'],
        'POST /api/commands/:id/cancel': [200, () => admin.send('POST', `/api/commands/${commandId}/cancel`)],
        'GET /api/fleet/machines/:id/commands': [200, () => admin.get(`/api/fleet/machines/${fleet.agent.agentId}/commands`)],
        // Cancelled before delivery: the agent never had it, so for the agent it does not exist.
        // Without an upgrade; the WebSocket itself is driven in test/fleet/agent-channel.test.ts.
        'GET /api/agent/channel': [426, () => t.client().get('/api/agent/channel', { bearer: fleet.agent.apiKey, cookies: false }), 'upgrade_required'],
        'POST /api/agent/commands/:id/result': [404, () => t.client().post(`/api/agent/commands/${commandId}/result`, seal(fleet.agent, [], { ts: Date.now() }), { bearer: fleet.agent.apiKey, cookies: false }), 'command_not_found'],
        'GET /api/fleet/events': [200, () => readEventStream(t.server.port, t.server.certificate.certPem, adminBearer)],
        'POST /api/admin/agents/:id/rotate': [200, () => admin.send('POST', `/api/admin/agents/${fleet.agent.agentId}/rotate?apiKey=true`)],
        'POST /api/admin/agents/:id/revoke': [200, () => admin.send('POST', `/api/admin/agents/${fleet.agent.agentId}/revoke`)],
        'POST /api/admin/agents/:id/decommission': [200, () => admin.send('POST', `/api/admin/agents/${fleet.spare.agentId}/decommission`)],
        'DELETE /api/admin/enrollment-tokens/:id': [200, () => admin.send('DELETE', `/api/admin/enrollment-tokens/${fleet.tokenId}`)],
        'POST /api/auth/login/mfa': [401, () => t.client().post('/api/auth/login/mfa', { mfaTicket: ticket, code: '123456' }), 'invalid_mfa_ticket'],
        'POST /api/auth/token/mfa': [401, () => t.client().post('/api/auth/token/mfa', { mfaTicket: ticket, code: '123456' }), 'invalid_mfa_ticket'],
        'POST /api/auth/webauthn/login/options': [200, () => t.client().post('/api/auth/webauthn/login/options', {})],
        'POST /api/auth/webauthn/login/verify': [401, () => t.client().post('/api/auth/webauthn/login/verify', { response: FAKE_ASSERTION }), 'passkey_failed'],
        'GET /api/me/mfa': [200, () => t.client().request('GET', '/api/me/mfa', bearer)],
        'POST /api/me/mfa/totp/setup': [200, () => t.client().request('POST', '/api/me/mfa/totp/setup', { ...bearer, body: {} })],
        'POST /api/me/mfa/totp/confirm': [401, () => t.client().request('POST', '/api/me/mfa/totp/confirm', { ...bearer, body: { code: '000000' } }), 'invalid_mfa_code'],
        // Removing what is not there is done already.
        'DELETE /api/me/mfa/totp': [200, () => t.client().request('DELETE', '/api/me/mfa/totp', bearer)],
        'POST /api/me/mfa/backup-codes': [409, () => t.client().request('POST', '/api/me/mfa/backup-codes', { ...bearer, body: {} }), 'totp_not_enrolled'],
        'GET /api/me/passkeys': [200, () => t.client().request('GET', '/api/me/passkeys', bearer)],
        'POST /api/me/passkeys/register/options': [200, () => t.client().request('POST', '/api/me/passkeys/register/options', { ...bearer, body: {} })],
        'POST /api/me/passkeys/register/verify': [401, () => t.client().request('POST', '/api/me/passkeys/register/verify', { ...bearer, body: { response: FAKE_REGISTRATION } }), 'passkey_failed'],
        'PATCH /api/me/passkeys/:id': [404, () => t.client().request('PATCH', `/api/me/passkeys/${UNKNOWN_ID}`, { ...bearer, body: { name: 'laptop' } }), 'passkey_not_found'],
        'DELETE /api/me/passkeys/:id': [404, () => t.client().request('DELETE', `/api/me/passkeys/${UNKNOWN_ID}`, bearer), 'passkey_not_found'],
        'POST /api/me/reauth': [403, () => t.client().request('POST', '/api/me/reauth', { ...bearer, body: { password: 'Not-The-Password-1' } }), 'reauthentication_failed'],
        'POST /api/me/reauth/passkey/options': [200, () => t.client().request('POST', '/api/me/reauth/passkey/options', { ...bearer, body: {} })],
        'DELETE /api/admin/users/:id/mfa': [404, () => admin.send('DELETE', `/api/admin/users/${UNKNOWN_ID}/mfa`), 'user_not_found'],
        'GET /api/admin/security/blocks': [200, () => admin.get('/api/admin/security/blocks')],
        'DELETE /api/admin/security/blocks/:ip': [404, () => admin.send('DELETE', '/api/admin/security/blocks/192.0.2.1'), 'block_not_found'],
        'GET /api/dashboard/settings': [200, () => admin.get('/api/dashboard/settings')],
        'GET /': [200, () => admin.get('/')],
        'GET /assets/*': [404, () => admin.get('/assets/missing.js'), 'not_found'],
        'GET /*': [200, () => admin.get('/admin/users')],
        'GET /api/admin/audit': [200, () => admin.get('/api/admin/audit')],
        'GET /api/admin/audit/verify': [200, () => admin.get('/api/admin/audit/verify')],
        // CSV: the JSON export carries the chain's own prevHash/hash (integrity values, not credentials) by design.
        'GET /api/admin/audit/export': [200, () => admin.get('/api/admin/audit/export?format=csv')],
        'GET /api/admin/security/events': [200, () => admin.get('/api/admin/security/events')],
        'GET /metrics': [200, () => t.client().get('/metrics', { bearer: METRICS_TOKEN, cookies: false })],
        'POST /api/auth/logout': [200, () => t.client().post('/api/auth/logout', undefined, bearer)],
      };
      // The OpenAPI document describes field names; it carries no values.
      const routes = catalog().filter((r) => r.method !== 'HEAD' && r.url !== '/api/openapi.json');
      for (const route of routes) expect(calls, `add a call for ${route.method} ${route.url}`).toHaveProperty([`${route.method} ${route.url}`]);
      for (const [name, [status, call, code]] of Object.entries(calls)) {
        const res = await call();
        expect(res.status, `${name}: ${res.text.slice(0, 300)}`).toBe(status);
        if (code !== undefined) expect(res.json?.error?.code, name).toBe(code);
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
