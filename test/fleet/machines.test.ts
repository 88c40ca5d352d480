import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, report, send, type SimAgent } from './agent-sim.js';

const PASSWORD = 'Fleet-Test-Password-7';
const LONG_UNICODE = 'Ünïcødé-主机-'.repeat(1000).slice(0, 10_000);

/** Opens the SSE stream with a user's cookies and collects events until told to stop. */
function openEvents(t: TestServer, user: HttpsClient): Promise<{ events: Array<{ event: string; data: unknown }>; raw: () => string; status: number; headers: Record<string, unknown>; close(): void }> {
  return new Promise((resolve, reject) => {
    const cookie = [...user.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const req = https.request(
      { host: '127.0.0.1', port: t.server.port, path: '/api/fleet/events', method: 'GET', headers: { cookie }, ca: t.server.certificate.certPem, servername: 'localhost' },
      (res) => {
        let text = '';
        const events: Array<{ event: string; data: unknown }> = [];
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
        resolve({ events, raw: () => text, status: res.statusCode ?? 0, headers: res.headers, close: () => req.destroy() });
      },
    );
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

async function waitFor<T>(check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`fleet machines (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    let viewer: HttpsClient;
    let operator: HttpsClient;
    let token: string;
    const clock = new ManualClock(Date.UTC(2026, 3, 1, 8));

    async function userClient(username: string, role: string): Promise<HttpsClient> {
      expect((await admin.send('POST', '/api/admin/users', { username, password: PASSWORD, role })).status).toBe(201);
      const c = t.client();
      await c.post('/api/auth/login', { username, password: PASSWORD });
      expect((await c.send('POST', '/api/me/password', { currentPassword: PASSWORD, newPassword: `${PASSWORD}-x` })).status).toBe(200);
      return c;
    }

    beforeAll(async () => {
      t = await startTestServer({ mode, clock });
      admin = await adminClient(t);
      viewer = await userClient('fleet-viewer', 'viewer');
      operator = await userClient('fleet-operator', 'operator');
      token = (await createEnrollmentToken(admin, { maxUses: 100 })).token;
    });
    afterAll(async () => {
      await t?.close();
    });

    const list = async (query: string) => {
      const res = await viewer.get(`/api/fleet/machines?${query}`);
      expect(res.status, res.text).toBe(200);
      return res.json as { items: Array<Record<string, unknown> & { id: string; hostname: string }>; next: string | null };
    };
    const db = () => t.server.services.sql.db;

    describe('untrusted strings', () => {
      let pct: SimAgent;
      let under: SimAgent;
      let plain: SimAgent;
      let long: SimAgent;
      const pctFacts = facts({ hostname: `disk%full'"`, serial: '<script>alert(1)</script>' });
      const underFacts = facts({ hostname: 'web_01\\back', serial: `"; DROP TABLE machines; --` });
      const plainFacts = facts({ hostname: 'plainhost', serial: 'SN-PLAIN' });
      const longFacts = facts({ hostname: LONG_UNICODE, serial: LONG_UNICODE });

      beforeAll(async () => {
        pct = await enroll(t.client(), token, pctFacts);
        under = await enroll(t.client(), token, underFacts);
        plain = await enroll(t.client(), token, plainFacts);
        long = await enroll(t.client(), token, longFacts);
      });

      it('stores hostnames, serials and tags verbatim', async () => {
        const tags = ['%', '_', "'", '"', '\\', '<script>alert(1)</script>', 'ünï 主机'];
        const put = await operator.send('PUT', `/api/fleet/machines/${pct.agentId}/tags`, { tags });
        expect(put.status, put.text).toBe(200);
        expect(put.json.tags).toEqual([...tags].sort());
        for (const [agent, f] of [
          [pct, pctFacts],
          [under, underFacts],
          [plain, plainFacts],
          [long, longFacts],
        ] as const) {
          const detail = (await viewer.get(`/api/fleet/machines/${agent.agentId}`)).json;
          expect(detail.hostname).toBe(f.hostname);
          expect(detail.serial).toBe(f.serial);
          expect(detail.facts).toEqual(f);
        }
        expect((await viewer.get(`/api/fleet/machines/${pct.agentId}`)).json.tags).toEqual([...tags].sort());
        expect((await viewer.get(`/api/fleet/machines?tag=${encodeURIComponent('<script>alert(1)</script>')}`)).json.items.map((m: { id: string }) => m.id)).toEqual([pct.agentId]);
      });

      it('searches % and _ literally: only the machine that contains them', async () => {
        const ids = async (search: string) => (await list(`search=${encodeURIComponent(search)}&limit=500`)).items.map((m) => m.id);
        expect(await ids('%')).toEqual([pct.agentId]);
        expect(await ids('_')).toEqual([under.agentId]);
        expect(await ids('\\')).toEqual([under.agentId]);
        expect(await ids("'")).toEqual([pct.agentId]);
        expect(await ids('k%f')).toEqual([pct.agentId]);
        expect(await ids('b_0')).toEqual([under.agentId]);
        expect(await ids('PLAIN')).toEqual([plain.agentId]);
        expect(await ids('主机')).toEqual([long.agentId]);
        expect(await ids('%%')).toEqual([]);
      });

      it('lets no agent touch another machine: reports with its facts change only its own row', async () => {
        const before = await db().selectFrom('machines').selectAll().where('id', 'in', [pct.agentId, under.agentId, long.agentId]).orderBy('id').execute();
        // The plain agent claims another machine's hostname and serial.
        const res = await send(t.client(), plain, [report(clock.nowMs(), { facts: facts({ hostname: pctFacts.hostname, serial: pctFacts.serial }) })]);
        expect(res.status, res.text).toBe(200);
        const after = await db().selectFrom('machines').selectAll().where('id', 'in', [pct.agentId, under.agentId, long.agentId]).orderBy('id').execute();
        expect(after).toEqual(before);
        const mine = (await viewer.get(`/api/fleet/machines/${plain.agentId}`)).json;
        expect(mine.hostname).toBe(pctFacts.hostname);
        expect((await list(`search=${encodeURIComponent('%')}`)).items.map((m) => m.id).sort()).toEqual([pct.agentId, plain.agentId].sort());
      });
    });

    describe('lists, filters, sorting and pages', () => {
      const agents: SimAgent[] = [];
      const cpus = [55, 10, 90, 30, 70, 20, 80];

      beforeAll(async () => {
        const tok = (await createEnrollmentToken(admin, { maxUses: 10 })).token;
        for (const [i, cpu] of cpus.entries()) {
          const agent = await enroll(t.client(), tok, facts({ hostname: `page-${String.fromCharCode(97 + i)}`, os: i % 2 === 0 ? 'linux' : 'darwin' }));
          await send(t.client(), agent, [report(clock.nowMs(), { cpu: { percent: cpu } })]);
          agents.push(agent);
        }
        await operator.send('PUT', `/api/fleet/machines/${agents[0]?.agentId}/tags`, { tags: ['rack-1', 'db'] });
        await operator.send('PUT', `/api/fleet/machines/${agents[3]?.agentId}/tags`, { tags: ['rack-1'] });
      });

      const collect = async (query: string) => {
        const out: Array<{ id: string; hostname: string; cpu: number }> = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Awaited<ReturnType<typeof list>> = await list(`${query}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
          expect(page.items.length).toBeLessThanOrEqual(3);
          out.push(...(page.items as unknown as Array<{ id: string; hostname: string; cpu: number }>));
          cursor = page.next;
          pages++;
        } while (cursor && pages < 20);
        return out;
      };

      it('sorts by cpu descending across pages with no duplicates', async () => {
        const rows = (await collect('search=page-&sort=-cpu')).map((r) => r.cpu);
        expect(rows).toEqual([...cpus].sort((a, b) => b - a));
      });

      it('sorts by hostname ascending across pages', async () => {
        const rows = (await collect('search=page-&sort=hostname')).map((r) => r.hostname);
        expect(rows).toEqual(['page-a', 'page-b', 'page-c', 'page-d', 'page-e', 'page-f', 'page-g']);
      });

      it('filters by os, tag and status', async () => {
        expect((await list('search=page-&os=darwin&limit=500')).items.map((m) => m.hostname).sort()).toEqual(['page-b', 'page-d', 'page-f']);
        expect((await list('tag=rack-1&limit=500')).items.map((m) => m.hostname).sort()).toEqual(['page-a', 'page-d']);
        expect((await list('tag=db')).items.map((m) => m.hostname)).toEqual(['page-a']);
        expect((await list('search=page-&status=online&limit=500')).items).toHaveLength(7);
        expect((await viewer.get('/api/fleet/tags')).json.items).toEqual(expect.arrayContaining([{ tag: 'rack-1', count: 2 }, { tag: 'db', count: 1 }]));
      });

      it('computes online, warning and offline from each agent interval', async () => {
        const id = agents[1]?.agentId as string;
        const status = async () => (await viewer.get(`/api/fleet/machines/${id}`)).json.status;
        const start = clock.nowMs();
        clock.set(start + 19_999);
        expect(await status()).toBe('online');
        clock.set(start + 20_000);
        expect(await status()).toBe('warning');
        expect((await list('search=page-&status=warning&limit=500')).items.length).toBe(7);
        clock.set(start + 40_000);
        expect(await status()).toBe('offline');
        const summary = (await viewer.get('/api/fleet/summary')).json;
        expect(summary.offline).toBeGreaterThanOrEqual(7);
        await send(t.client(), agents[1] as SimAgent, [report(clock.nowMs(), { cpu: { percent: 10 } })]);
        expect(await status()).toBe('online');
        const after = (await viewer.get('/api/fleet/summary')).json;
        expect(after.online).toBe(1);
        expect(after.averages.cpu).toBe(10);
      });

      it('refuses a bad sort, a forged cursor and unknown query fields', async () => {
        expect((await viewer.get('/api/fleet/machines?sort=password')).status).toBe(400);
        expect((await viewer.get('/api/fleet/machines?cursor=Zm9v')).json.error.code).toBe('invalid_cursor');
        expect((await viewer.get('/api/fleet/machines?limit=501')).status).toBe(400);
        expect((await viewer.get('/api/fleet/machines?admin=1')).status).toBe(400);
        const page = await list('sort=cpu&limit=1');
        expect((await viewer.get(`/api/fleet/machines?sort=hostname&limit=1&cursor=${page.next}`)).json.error.code).toBe('invalid_cursor');
      });
    });

    describe('roles', () => {
      let agent: SimAgent;
      beforeAll(async () => {
        agent = await enroll(t.client(), token, facts({ hostname: 'role-host' }));
      });

      it('lets a viewer read but not tag (403); an operator tags', async () => {
        expect((await viewer.get(`/api/fleet/machines/${agent.agentId}`)).status).toBe(200);
        const denied = await viewer.send('PUT', `/api/fleet/machines/${agent.agentId}/tags`, { tags: ['x'] });
        expect(denied.status).toBe(403);
        expect(denied.json.error.code).toBe('forbidden');
        expect((await viewer.get(`/api/fleet/machines/${agent.agentId}`)).json.tags).toEqual([]);
        expect((await operator.send('PUT', `/api/fleet/machines/${agent.agentId}/tags`, { tags: ['x', 'x', 'y'] })).json.tags).toEqual(['x', 'y']);
        expect((await operator.send('PUT', `/api/fleet/machines/${agent.agentId}/tags`, { tags: ['a'.repeat(129)] })).status).toBe(400);
        expect((await operator.send('PUT', '/api/fleet/machines/01890000-0000-7000-8000-000000000000/tags', { tags: [] })).status).toBe(404);
      });

      it('lets only an admin decommission; the agent is refused at once and the machine says so', async () => {
        for (const user of [viewer, operator]) expect((await user.send('POST', `/api/admin/agents/${agent.agentId}/decommission`)).status).toBe(403);
        expect((await send(t.client(), agent, [report(clock.nowMs())])).status).toBe(200);
        const res = await admin.send('POST', `/api/admin/agents/${agent.agentId}/decommission`);
        expect(res.status, res.text).toBe(200);
        expect((await viewer.get(`/api/fleet/machines/${agent.agentId}`)).json).toMatchObject({ status: 'decommissioned', decommissionedAt: clock.nowMs() });
        expect((await send(t.client(), agent, [report(clock.nowMs() + 1)])).status).toBe(401);
        expect((await list('status=decommissioned&limit=500')).items.map((m) => m.id)).toContain(agent.agentId);
        expect((await admin.send('POST', '/api/admin/agents/01890000-0000-7000-8000-000000000000/decommission')).status).toBe(404);
      });
    });

    it('streams a machine event to a dashboard for each ingest, with summaries', async () => {
      const agent = await enroll(t.client(), token, facts({ hostname: 'sse-host' }));
      const stream = await openEvents(t, viewer);
      try {
        expect(stream.status).toBe(200);
        expect(String(stream.headers['content-type'])).toMatch(/^text\/event-stream/);
        expect(stream.headers['cache-control']).toBe('no-store');
        await waitFor(() => stream.events.find((e) => e.event === 'summary'));
        expect((await send(t.client(), agent, [report(clock.nowMs(), { cpu: { percent: 33 } })])).status).toBe(200);
        const event = await waitFor(() => stream.events.find((e) => e.event === 'machine' && (e.data as { id: string }).id === agent.agentId));
        expect(event.data).toMatchObject({ id: agent.agentId, hostname: 'sse-host', status: 'online', cpu: 33, tags: [] });
      } finally {
        stream.close();
      }
      const anonymous = await t.client().get('/api/fleet/events', { cookies: false });
      expect(anonymous.status).toBe(401);
      await waitFor(() => (t.server.services.fleet.events.openStreams === 0 ? true : undefined));
    });
  });
}
