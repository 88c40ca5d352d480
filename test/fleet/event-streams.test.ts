import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sessionsRepo } from '../../src/identity/sessions/repo.js';
import { ManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/server/logger.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { endReason, endsWithin, openEventStream, type OpenStream } from './event-stream-client.js';

const PASSWORD = 'Stream-Watch-Password-71';
const CHANGED = `${PASSWORD}-x`;
/** What the task promises: a revocation reaches an open stream within 2 s. */
const WITHIN_MS = 2000;

interface SignedIn {
  id: string;
  username: string;
  client: HttpsClient;
}

/** Creates a user through the admin API and signs them in with their own password (no change pending). */
async function createUser(t: TestServer, admin: HttpsClient, username: string, role = 'viewer'): Promise<SignedIn> {
  const created = await admin.send('POST', '/api/admin/users', { username, password: PASSWORD, role });
  expect(created.status).toBe(201);
  const client = t.client();
  expect((await client.post('/api/auth/login', { username, password: PASSWORD })).status).toBe(200);
  expect((await client.send('POST', '/api/me/password', { currentPassword: PASSWORD, newPassword: CHANGED })).status).toBe(200);
  return { id: created.json.id as string, username, client };
}

/** Another session of the same user, as a script would hold it. */
async function bearerSession(t: TestServer, username: string): Promise<string> {
  const answer = await t.client().post('/api/auth/token', { username, password: CHANGED });
  expect(answer.status).toBe(200);
  return answer.json.accessToken as string;
}

async function currentSessionId(client: HttpsClient): Promise<string> {
  const sessions = await client.get('/api/me/sessions');
  expect(sessions.status).toBe(200);
  const current = (sessions.json.items as Array<{ id: string; current: boolean }>).find((s) => s.current);
  if (!current) throw new Error('no current session');
  return current.id;
}

async function openFor(server: { port: number; certificate: { certPem: string } }, user: SignedIn): Promise<OpenStream> {
  const stream = await openEventStream(server, { cookies: user.client });
  expect(stream.status).toBe(200);
  return stream;
}

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`revocation ends open event streams (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    let bystander: OpenStream;

    beforeAll(async () => {
      t = await startTestServer({ mode });
      admin = await adminClient(t);
      bystander = await openFor(t.server, await createUser(t, admin, 'bystander'));
    });
    afterAll(async () => {
      bystander?.close();
      await t?.close();
    });

    /** Opens a stream for a fresh user, revokes through `revoke`, and expects that stream ended in time and no other. */
    async function expectRevocationEnds(username: string, revoke: (user: SignedIn) => Promise<{ status: number }>, role = 'viewer'): Promise<void> {
      const user = await createUser(t, admin, username, role);
      const stream = await openFor(t.server, user);
      expect((await revoke(user)).status).toBe(200);
      await endsWithin(stream, WITHIN_MS);
      expect(endReason(stream)).toBe('revoked');
      expect(bystander.isEnded()).toBe(false);
    }

    it('logout', () => expectRevocationEnds('s-logout', (u) => u.client.send('POST', '/api/auth/logout')));

    it('the user deleting the session from another one', () =>
      expectRevocationEnds('s-self-delete', async (u) => {
        const sid = await currentSessionId(u.client);
        const other = t.client();
        expect((await other.post('/api/auth/login', { username: u.username, password: CHANGED })).status).toBe(200);
        return other.send('DELETE', `/api/me/sessions/${sid}`);
      }));

    it('an admin deleting the session', () =>
      expectRevocationEnds('s-admin-delete', async (u) => admin.send('DELETE', `/api/admin/users/${u.id}/sessions/${await currentSessionId(u.client)}`)));

    it('suspension', () => expectRevocationEnds('s-suspended', (u) => admin.send('PATCH', `/api/admin/users/${u.id}`, { status: 'suspended' })));

    it('a demotion', () => expectRevocationEnds('s-demoted', (u) => admin.send('PATCH', `/api/admin/users/${u.id}`, { role: 'viewer' }), 'operator'));

    it('deletion', () => expectRevocationEnds('s-deleted', (u) => admin.send('DELETE', `/api/admin/users/${u.id}`)));

    it('an admin password reset', () => expectRevocationEnds('s-reset', (u) => admin.send('POST', `/api/admin/users/${u.id}/password`, { password: 'Reset-By-Admin-Password-3' })));

    it("this node's own revocation closes the stream before it answers, without waiting for the periodic check", async () => {
      const user = await createUser(t, admin, 's-local');
      const stream = await openFor(t.server, user);
      const before = t.server.services.fleet.events.openStreams;
      expect((await user.client.send('POST', '/api/auth/logout')).status).toBe(200);
      expect(t.server.services.fleet.events.openStreams).toBe(before - 1);
      await endsWithin(stream, WITHIN_MS);
    });

    it('ends every stream of a user, on bearer and cookie sessions alike', async () => {
      const user = await createUser(t, admin, 's-all');
      const streams = [await openFor(t.server, user), await openEventStream(t.server, { bearer: await bearerSession(t, user.username) })];
      expect(streams.map((s) => s.status)).toEqual([200, 200]);
      expect((await admin.send('PATCH', `/api/admin/users/${user.id}`, { status: 'suspended' })).status).toBe(200);
      await Promise.all(streams.map((s) => endsWithin(s, WITHIN_MS)));
      expect(bystander.isEnded()).toBe(false);
    });
  });
}

describe.skipIf(!modes().find((m) => m.mode === 'cluster')?.available)('revocation on one node ends the stream held on another', () => {
  let a: TestServer;
  let b: RunningServer;
  let dataDir: string;
  let admin: HttpsClient;

  beforeAll(async () => {
    a = await startTestServer({ mode: 'cluster' });
    admin = await adminClient(a);
    // Node B: the same database, Redis, prefix and secrets, its own data dir and port.
    dataDir = mkdtempSync(join(tmpdir(), 'flotilla-node-b-'));
    b = await startServer({ ...a.config, dataDir, server: { ...a.config.server, port: 0 } }, { print: () => undefined, log: createLogger('silent') });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The same cookies, presented to node B. */
  function onNodeB(user: SignedIn): SignedIn {
    const client = new HttpsClient(b.port, b.certificate.certPem);
    for (const [k, v] of user.client.jar) client.jar.set(k, v);
    return { ...user, client };
  }

  it('logout through node A ends the stream on node B', async () => {
    const user = await createUser(a, admin, 'c-logout');
    const remote = onNodeB(user);
    const stream = await openFor(b, remote);
    const bystander = await openFor(b, onNodeB(await createUser(a, admin, 'c-bystander')));
    expect((await user.client.send('POST', '/api/auth/logout')).status).toBe(200);
    await endsWithin(stream, WITHIN_MS);
    expect(endReason(stream)).toBe('revoked');
    expect(bystander.isEnded()).toBe(false);
    bystander.close();
    remote.client.close();
  });

  it('suspension through node A ends the stream on node B', async () => {
    const user = await createUser(a, admin, 'c-suspended');
    const remote = onNodeB(user);
    const stream = await openFor(b, remote);
    expect((await admin.send('PATCH', `/api/admin/users/${user.id}`, { status: 'suspended' })).status).toBe(200);
    await endsWithin(stream, WITHIN_MS);
    expect(endReason(stream)).toBe('revoked');
    remote.client.close();
  });
});

describe('a stream ends with the access token and the session it was opened with', () => {
  const clock = new ManualClock(Date.UTC(2026, 3, 1, 8));
  let t: TestServer;
  let admin: HttpsClient;
  /** Long enough to show each check acts on the moved clock, and not before its time. */
  const settle = () => new Promise((r) => setTimeout(r, 1500));

  beforeAll(async () => {
    // The idle timeout is shorter than the token's life, so each of the two ends a stream on its own.
    t = await startTestServer({ clock, env: { FLOTILLA_SECURITY_ACCESS_TOKEN_TTL: '1800', FLOTILLA_SECURITY_SESSION_TIMEOUT: '600' } });
    await adminClient(t);
  });
  // Each test moves the clock past the admin's own session too: sign in afresh.
  beforeEach(async () => {
    admin = t.client();
    expect((await admin.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD })).status).toBe(200);
  });
  afterAll(() => t?.close());

  it('when the access token expires, though the session is in use; a renewed token opens a new one', async () => {
    const user = await createUser(t, admin, 'x-expiry');
    const stream = await openFor(t.server, user);
    for (let step = 0; step < 6; step++) {
      clock.advance(step < 5 ? 300_000 : 299_000);
      // Activity keeps the session from idling out.
      expect((await user.client.get('/api/me')).status).toBe(200);
    }
    await settle();
    expect(stream.isEnded()).toBe(false);
    clock.advance(1000);
    await endsWithin(stream, WITHIN_MS);
    expect(endReason(stream)).toBe('expired');
    // The dashboard's path: renew, reconnect.
    expect((await user.client.send('POST', '/api/auth/refresh')).status).toBe(200);
    const renewed = await openFor(t.server, user);
    renewed.close();
  });

  it('when another process revokes the session in the database alone (the CLI on an embedded server), within a minute', async () => {
    const user = await createUser(t, admin, 'x-cli');
    const stream = await openFor(t.server, user);
    const sid = await currentSessionId(user.client);
    await sessionsRepo.revoke(t.server.services.sql.db, { id: sid }, clock.nowMs(), 'cli');
    // The cached session state lapses after a minute; then the database decides, as it does for a request.
    clock.advance(61_000);
    await endsWithin(stream, WITHIN_MS);
    expect(endReason(stream)).toBe('revoked');
  });

  it('when the session idles out, though its access token still lives', async () => {
    const user = await createUser(t, admin, 'x-idle');
    const stream = await openFor(t.server, user);
    clock.advance(599_000);
    await settle();
    expect(stream.isEnded()).toBe(false);
    clock.advance(2000);
    await endsWithin(stream, WITHIN_MS);
    expect(endReason(stream)).toBe('revoked');
  });
});

describe('stream caps', () => {
  let t: TestServer;
  let admin: HttpsClient;
  const open: OpenStream[] = [];

  beforeAll(async () => {
    t = await startTestServer();
    admin = await adminClient(t);
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
  });

  async function openMany(count: number, auth: Parameters<typeof openEventStream>[1]): Promise<OpenStream[]> {
    const streams = await Promise.all(Array.from({ length: count }, () => openEventStream(t.server, auth)));
    open.push(...streams);
    return streams;
  }

  it('refuse the 6th stream of a session with 429 session_stream_limit', async () => {
    const user = await createUser(t, admin, 'cap-session');
    const first = await openMany(5, { cookies: user.client });
    expect(first.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    const [sixth] = await openMany(1, { cookies: user.client });
    expect(sixth?.status).toBe(429);
    expect(sixth?.json?.error?.code).toBe('session_stream_limit');
    // The same user's other session still gets one.
    const [elsewhere] = await openMany(1, { bearer: await bearerSession(t, user.username) });
    expect(elsewhere?.status).toBe(200);
    // Closing one frees its slot.
    first[0]?.close();
    await expect.poll(async () => (await openMany(1, { cookies: user.client }))[0]?.status, { timeout: 5000 }).toBe(200);
  });

  it('refuse the 21st stream of a user with 429 user_stream_limit, and leave other users alone', async () => {
    const user = await createUser(t, admin, 'cap-user');
    const sessions = await Promise.all(Array.from({ length: 5 }, () => bearerSession(t, user.username)));
    for (const bearer of sessions.slice(0, 4)) expect((await openMany(5, { bearer })).map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    const [over] = await openMany(1, { bearer: sessions[4] as string });
    expect(over?.status).toBe(429);
    expect(over?.json?.error?.code).toBe('user_stream_limit');
    expect(over?.json?.error?.message).toMatch(/live event streams/);
    const other = await createUser(t, admin, 'cap-other');
    expect((await openMany(1, { cookies: other.client }))[0]?.status).toBe(200);
  });
});

describe('the global stream cap', () => {
  let t: TestServer;
  let admin: HttpsClient;
  const open: OpenStream[] = [];

  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_FLEET_STREAMS_MAX_TOTAL: '3' } });
    admin = await adminClient(t);
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
  });

  it('refuses viewers with 503 too_many_streams once full, but an admin still gets a stream', async () => {
    const viewers = [await createUser(t, admin, 'full-a'), await createUser(t, admin, 'full-b')];
    for (const [i, count] of [2, 1].entries()) {
      for (let n = 0; n < count; n++) {
        const s = await openEventStream(t.server, { cookies: viewers[i]!.client });
        open.push(s);
        expect(s.status).toBe(200);
      }
    }
    const refused = await openEventStream(t.server, { cookies: viewers[1]!.client });
    expect(refused.status).toBe(503);
    expect(refused.json?.error?.code).toBe('too_many_streams');
    const forAdmin = await openEventStream(t.server, { cookies: admin });
    open.push(forAdmin);
    expect(forAdmin.status).toBe(200);
  });
});
