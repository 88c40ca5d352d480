import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTLE_MS } from '../../src/fleet/rollups.js';
import { ManualClock } from '../../src/lib/clock.js';
import { deriveAgentKey, openRekey, sealEnvelope, reportAad } from '../../src/protocol/sealing.js';
import type { HttpsClient, Reply } from '../harness/client.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts, post, report, seal, send, type SimAgent } from './agent-sim.js';

const UNAUTHORIZED = { error: { code: 'unauthorized', message: 'authentication required' } };
const GRACE_SECONDS = 600;

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`report ingest (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    let client: HttpsClient;
    let token: string;
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));

    beforeAll(async () => {
      t = await startTestServer({ mode, clock, env: { FLOTILLA_FLEET_KEY_GRACE_SECONDS: String(GRACE_SECONDS) } });
      admin = await adminClient(t);
      client = t.client();
      token = (await createEnrollmentToken(admin, { maxUses: 100 })).token;
    });
    afterAll(async () => {
      await t?.close();
    });

    const newAgent = (hostname = 'ingest-host') => enroll(client, token, facts({ hostname }));
    const db = () => t.server.services.sql.db;

    /** Everything a report could change for one agent. */
    async function stored(agentId: string) {
      const raw = await db().selectFrom('metricsRaw').selectAll().where('machineId', '=', agentId).orderBy('ts').execute();
      const agent = await db().selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirstOrThrow();
      const machine = await db().selectFrom('machines').selectAll().where('id', '=', agentId).executeTakeFirstOrThrow();
      return { raw, agent, machine };
    }

    async function expectRefused(agent: SimAgent, attempt: () => Promise<Reply>, status: number, code: string): Promise<void> {
      const before = await stored(agent.agentId);
      const res = await attempt();
      expect(res.status, res.text).toBe(status);
      expect(res.json.error.code).toBe(code);
      expect(await stored(agent.agentId)).toEqual(before);
    }

    it('accepts a sealed report and shows it in the machine detail and history', async () => {
      const agent = await newAgent();
      const now = clock.nowMs();
      const res = await send(client, agent, [report(now)]);
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ accepted: 1, commands: [], intervalSeconds: 10 });

      const detail = (await admin.get(`/api/fleet/machines/${agent.agentId}`)).json;
      expect(detail).toMatchObject({ status: 'online', lastSeenAt: now, lastCollectedAt: now, cpu: 12.5, memory: 25, swap: 10, disk: 90, load1: 0.5, netRx: null });
      expect(detail.latest).toEqual((({ facts: _f, ...rest }) => rest)(report(now)));

      clock.advance(10_000);
      const second = await send(client, agent, [report(clock.nowMs(), { network: [{ iface: 'eth0', rxBytes: 11_000, txBytes: 2_000 }], cpu: { percent: 40 } })]);
      expect(second.json.accepted).toBe(1);
      const after = (await admin.get(`/api/fleet/machines/${agent.agentId}`)).json;
      expect(after).toMatchObject({ cpu: 40, netRx: 1000, netTx: 0 });

      const history = await admin.get(`/api/fleet/machines/${agent.agentId}/history?metric=cpu&from=${now - 1000}&to=${clock.nowMs() + 1}`);
      expect(history.status).toBe(200);
      expect(history.json).toMatchObject({ resolution: 'raw', metric: 'cpu', truncated: false });
      expect(history.json.points).toEqual([
        { t: now, avg: 12.5, max: 12.5 },
        { t: now + 10_000, avg: 40, max: 40 },
      ]);
    });

    it('serves history from the minute and hour rollups once the job has run', async () => {
      const agent = await newAgent('history-host');
      const start = clock.nowMs();
      const reports = Array.from({ length: 12 }, (_, i) => report(start - 11 * 10_000 + i * 10_000, { cpu: { percent: i * 9 } }));
      const sent = await post(client, agent, seal(agent, reports, { ts: start }));
      expect(sent.json.accepted, sent.text).toBe(12);
      await t.server.services.fleet.rollups.runOnce(start + SETTLE_MS + 1);
      const minutes = await admin.get(`/api/fleet/machines/${agent.agentId}/history?resolution=1m&from=${start - 3600_000}&to=${start + 1}`);
      expect(minutes.json.resolution).toBe('1m');
      const total = minutes.json.points.reduce((sum: number, p: { avg: number }) => sum + p.avg, 0);
      expect(minutes.json.points.length).toBeGreaterThanOrEqual(2);
      expect(Math.max(...minutes.json.points.map((p: { max: number }) => p.max))).toBe(99);
      expect(total).toBeGreaterThan(0);
      const auto = await admin.get(`/api/fleet/machines/${agent.agentId}/history?from=${start - 30 * 24 * 3600_000}&to=${start + 1}&metric=cpu`);
      expect(auto.json.resolution).toBe('1h');
      expect(auto.json.points.reduce((n: number, p: { max: number }) => Math.max(n, p.max), 0)).toBe(99);
      expect(auto.json.points.every((p: { t: number }) => p.t % 3600_000 === 0)).toBe(true);
      expect((await admin.get(`/api/fleet/machines/${agent.agentId}/history?from=10&to=5`)).json.error.code).toBe('invalid_query');
      expect((await admin.get('/api/fleet/machines/01890000-0000-7000-8000-000000000000/history')).status).toBe(404);
    });

    it('stores a spooled batch at collectedAt, skips reports older than 24 h, and keeps the newest as latest', async () => {
      const agent = await newAgent('spool-host');
      const now = clock.nowMs();
      await send(client, agent, [report(now, { cpu: { percent: 5 } })]);
      const batch = [report(now - 25 * 3600_000), report(now - 2 * 3600_000, { cpu: { percent: 70 } }), report(now - 3600_000, { cpu: { percent: 80 } })];
      const res = await post(client, agent, seal(agent, batch, { ts: now }));
      expect(res.json.accepted).toBe(2);
      const { raw, machine } = await stored(agent.agentId);
      expect(raw.map((r) => [r.ts, r.cpu])).toEqual([
        [now - 2 * 3600_000, 70],
        [now - 3600_000, 80],
        [now, 5],
      ]);
      expect(machine.cpu).toBe(5);
    });

    it('updates the stored facts only when they change', async () => {
      const agent = await newAgent('facts-host');
      const first = await stored(agent.agentId);
      await send(client, agent, [report(clock.nowMs(), { facts: facts({ hostname: 'facts-host' }) })]);
      expect((await stored(agent.agentId)).machine.factsHash).toBe(first.machine.factsHash);
      await send(client, agent, [report(clock.nowMs() + 1, { facts: facts({ hostname: 'renamed-host', serial: 'SN-1' }) })]);
      const changed = (await stored(agent.agentId)).machine;
      expect(changed).toMatchObject({ hostname: 'renamed-host', serial: 'SN-1' });
      expect(changed.factsHash).not.toBe(first.machine.factsHash);
    });

    describe('refuses, storing nothing', () => {
      let agent: SimAgent;
      let other: SimAgent;
      beforeAll(async () => {
        agent = await newAgent('refusal-host');
        other = await newAgent('other-host');
        expect((await send(client, agent, [report(clock.nowMs())])).status).toBe(200);
        expect((await send(client, other, [report(clock.nowMs())])).status).toBe(200);
      });

      it('a wrong tag', async () => {
        const envelope = seal(agent, [report(clock.nowMs())], { ts: clock.nowMs() });
        const flipped = envelope.ct.slice(0, -2) + (envelope.ct.at(-2) === 'A' ? 'B' : 'A') + envelope.ct.at(-1);
        await expectRefused(agent, () => post(client, agent, { ...envelope, ct: flipped }), 400, 'seal_invalid');
      });

      it('each field of the AAD changed', async () => {
        const now = clock.nowMs();
        const fresh = () => seal(agent, [report(now)], { ts: now });
        await expectRefused(agent, () => post(client, agent, { ...fresh(), ts: now + 1 }), 400, 'seal_invalid');
        const e = fresh();
        await expectRefused(agent, () => post(client, agent, { ...e, seq: e.seq + 1 }), 400, 'seal_invalid');
        await expectRefused(agent, () => post(client, agent, { ...fresh(), kid: 2 }), 400, 'seal_invalid');
        await expectRefused(agent, () => post(client, agent, seal(agent, [report(now)], { ts: now, aadAgentId: other.agentId })), 400, 'seal_invalid');
        // The purpose prefix is part of the AAD too: a command-result AAD does not open a report.
        const key = agent.keys.get(1) as Uint8Array;
        const seq = ++agent.seq;
        const wrongPurpose = sealEnvelope(key, { kid: 1, ts: now, seq }, new Uint8Array(Buffer.from(`flotilla/result/v1|${agent.agentId}|1|${now}|${seq}`)), Buffer.from('{"reports":[]}'));
        await expectRefused(agent, () => post(client, agent, wrongPurpose), 400, 'seal_invalid');
      });

      it('a timestamp just outside ±5 minutes, and accepts one just inside', async () => {
        const now = clock.nowMs();
        for (const ts of [now + 300_001, now - 300_001]) {
          await expectRefused(agent, () => post(client, agent, seal(agent, [report(now)], { ts })), 400, 'stale_timestamp');
        }
        for (const ts of [now + 300_000, now - 300_000]) {
          const res = await post(client, agent, seal(agent, [report(ts)], { ts }));
          expect(res.status, res.text).toBe(200);
        }
      });

      it('a replay of the same seq and a lower seq', async () => {
        const now = clock.nowMs();
        const envelope = seal(agent, [report(now + 5)], { ts: now });
        expect((await post(client, agent, envelope)).status).toBe(200);
        await expectRefused(agent, () => post(client, agent, envelope), 409, 'replay');
        await expectRefused(agent, () => post(client, agent, seal(agent, [report(now + 6)], { ts: now, seq: agent.seq - 1 })), 409, 'replay');
      });

      it('concurrent envelopes with the same seq: exactly one is stored', async () => {
        const now = clock.nowMs();
        const seq = ++agent.seq;
        const envelopes = Array.from({ length: 8 }, (_, i) => seal(agent, [report(now + 100 + i)], { ts: now, seq }));
        const before = (await stored(agent.agentId)).raw.length;
        const answers = await Promise.all(envelopes.map((e) => post(client, agent, e)));
        expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
        expect(answers.filter((a) => a.status === 409)).toHaveLength(7);
        expect((await stored(agent.agentId)).raw.length).toBe(before + 1);
      });

      it('an unknown kid', async () => {
        const key = deriveAgentKey(new Uint8Array(Buffer.from(t.server.services.secrets.e2ee, 'base64url')), agent.agentId, 7);
        await expectRefused(agent, () => post(client, agent, seal(agent, [report(clock.nowMs())], { ts: clock.nowMs(), kid: 7, key })), 400, 'seal_invalid');
      });

      it("an envelope sealed for another agent with that agent's key", async () => {
        const now = clock.nowMs();
        const forOther = seal(other, [report(now + 7, { facts: facts({ hostname: 'hijacked' }) })], { ts: now });
        const otherBefore = await stored(other.agentId);
        // Sent with this agent's own key: it opens only with this agent's sealing key.
        await expectRefused(agent, () => post(client, agent, forOther), 400, 'seal_invalid');
        // The other agent's envelope sealed with its key but this agent's id in the AAD fails too.
        await expectRefused(agent, () => post(client, agent, seal(other, [report(now + 8)], { ts: now, aadAgentId: agent.agentId })), 400, 'seal_invalid');
        expect(await stored(other.agentId)).toEqual(otherBefore);
      });

      it('a plaintext report while sealing is required', async () => {
        await expectRefused(agent, () => post(client, agent, { reports: [report(clock.nowMs())] }), 400, 'seal_required');
      });

      it('a sealed plaintext that breaks the schema, naming the field', async () => {
        const now = clock.nowMs();
        await expectRefused(agent, () => post(client, agent, seal(agent, [report(now, { cpu: { percent: 101 } })], { ts: now })), 400, 'invalid_body');
        const res = await post(client, agent, seal(agent, [{ ...report(now), extra: 1 } as never], { ts: now }));
        expect(res.json.error.message).toMatch(/unknown field "extra"/);
        await expectRefused(agent, () => post(client, agent, seal(agent, [], { ts: now })), 400, 'invalid_body');
        await expectRefused(agent, () => post(client, agent, seal(agent, [], { ts: now, plaintext: new Uint8Array([0xff, 0xfe]) })), 400, 'invalid_body');
        const tooMany = Array.from({ length: 101 }, (_, i) => report(now - i));
        await expectRefused(agent, () => post(client, agent, seal(agent, tooMany, { ts: now })), 400, 'invalid_body');
      });

      it('a NUL character in any text, in every mode, with a 400 naming the field (PostgreSQL text cannot hold one)', async () => {
        const now = clock.nowMs();
        const sealed = seal(agent, [report(now, { facts: facts({ hostname: 'refusal\u0000host' }) } as never)], { ts: now });
        await expectRefused(agent, () => post(client, agent, sealed), 400, 'invalid_body');
        const res = await post(client, agent, seal(agent, [report(now, { facts: facts({ serial: 'x\u0000' }) } as never)], { ts: now }));
        expect(res.json.error.message).toBe('report.reports.0.facts.serial: must not contain a NUL character');
        // A literal backslash-u0000 is just text.
        expect((await post(client, agent, seal(agent, [report(now, { facts: facts({ hostname: 'refusal\\u0000host' }) } as never)], { ts: now }))).status).toBe(200);

        const enrolled = await client.post('/api/agent/enroll', { token, facts: facts({ hostname: 'a\u0000b' }) }, { cookies: false });
        expect(enrolled.status, enrolled.text).toBe(400);
        expect(enrolled.json.error).toEqual({ code: 'invalid_body', message: 'body.facts.hostname: must not contain a NUL character' });
        const search = await admin.send('GET', '/api/fleet/machines?search=%00');
        expect(search.status, search.text).toBe(400);
        expect(search.json.error.code).toBe('invalid_query');
      });

      it('a body over 256 KiB with 413', async () => {
        const res = await client.request('POST', '/api/agent/report', { bearer: agent.apiKey, cookies: false, raw: JSON.stringify({ v: 1, ct: 'A'.repeat(300 * 1024) }), headers: { 'content-type': 'application/json' } });
        expect(res.status).toBe(413);
      });

      it('missing, malformed, unknown and mismatched keys with one 401 body', async () => {
        const envelope = seal(agent, [report(clock.nowMs())], { ts: clock.nowMs() });
        const secretOfOther = other.apiKey.slice(`fla_${other.agentId}_`.length);
        const attempts = [
          () => client.post('/api/agent/report', envelope, { cookies: false }),
          () => post(client, agent, envelope, 'fla_garbage'),
          () => post(client, agent, envelope, `fla_01890000-0000-7000-8000-000000000000_${'A'.repeat(43)}`),
          () => post(client, agent, envelope, `fla_${agent.agentId}_${secretOfOther}`),
          () => client.post('/api/agent/report', envelope, { cookies: true }),
        ];
        for (const attempt of attempts) {
          const before = await stored(agent.agentId);
          const res = await attempt();
          expect(res.status).toBe(401);
          expect(res.json).toEqual(UNAUTHORIZED);
          expect(await stored(agent.agentId)).toEqual(before);
        }
      });
    });

    it('rotates the sealing key: the next answer carries the new key, the old version works for the grace only', async () => {
      const agent = await newAgent('rotate-host');
      const master = new Uint8Array(Buffer.from(t.server.services.secrets.e2ee, 'base64url'));
      expect((await send(client, agent, [report(clock.nowMs())])).json.rekey).toBeUndefined();

      const rotated = await admin.send('POST', `/api/admin/agents/${agent.agentId}/rotate`);
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.json).toEqual({ agentId: agent.agentId, kid: 2 });

      const answer = await send(client, agent, [report(clock.nowMs() + 1)]);
      expect(answer.status).toBe(200);
      expect(answer.json.rekey).toMatchObject({ kid: 2 });
      const newKey = openRekey(agent.keys.get(1) as Uint8Array, agent.agentId, answer.json.rekey);
      expect(newKey && Buffer.from(newKey).equals(Buffer.from(deriveAgentKey(master, agent.agentId, 2)))).toBe(true);
      expect(openRekey(agent.keys.get(1) as Uint8Array, 'someone-else', answer.json.rekey)).toBeNull();
      agent.keys.set(2, newKey as Uint8Array);

      // Under the new version: accepted, no rekey.
      agent.kid = 2;
      const current = await send(client, agent, [report(clock.nowMs() + 2)]);
      expect(current.status).toBe(200);
      expect(current.json.rekey).toBeUndefined();

      // The old version within the grace: still accepted (a lost answer must not strand the agent).
      clock.advance(GRACE_SECONDS * 1000 - 1000);
      const late = await post(client, agent, seal(agent, [report(clock.nowMs())], { ts: clock.nowMs(), kid: 1 }));
      expect(late.status).toBe(200);
      expect(late.json.rekey.kid).toBe(2);

      // After the grace: refused, nothing stored.
      clock.advance(2000);
      await expectRefused(agent, () => post(client, agent, seal(agent, [report(clock.nowMs())], { ts: clock.nowMs(), kid: 1 })), 400, 'seal_invalid');
      expect((await send(client, agent, [report(clock.nowMs())])).status).toBe(200);
    });

    it('replaces the API key only when asked, and the old key stops at once', async () => {
      const agent = await newAgent('apikey-host');
      const res = await admin.send('POST', `/api/admin/agents/${agent.agentId}/rotate?apiKey=true`, {});
      expect(res.status).toBe(200);
      expect(res.json.apiKey.startsWith(`fla_${agent.agentId}_`)).toBe(true);
      const envelope = () => seal(agent, [report(clock.nowMs())], { ts: clock.nowMs() });
      expect((await post(client, agent, envelope())).json).toEqual(UNAUTHORIZED);
      agent.apiKey = res.json.apiKey;
      expect((await post(client, agent, envelope())).status).toBe(200);
      expect((await admin.send('POST', '/api/admin/agents/01890000-0000-7000-8000-000000000000/rotate')).status).toBe(404);
    });

    it('refuses a revoked agent at once with the one 401 body', async () => {
      const agent = await newAgent('revoked-host');
      expect((await send(client, agent, [report(clock.nowMs())])).status).toBe(200);
      const revoked = await admin.send('POST', `/api/admin/agents/${agent.agentId}/revoke`);
      expect(revoked.status).toBe(200);
      expect(revoked.json.revokedAt).toBe(clock.nowMs());
      await expectRefused(agent, () => send(client, agent, [report(clock.nowMs() + 1)]), 401, 'unauthorized');
      expect((await send(client, agent, [report(clock.nowMs() + 2)])).json).toEqual(UNAUTHORIZED);
      expect((await admin.send('POST', `/api/admin/agents/${agent.agentId}/rotate`)).json.error.code).toBe('agent_revoked');
      const listed = (await admin.get('/api/admin/agents?limit=500')).json.items.find((a: { id: string }) => a.id === agent.agentId);
      expect(listed.revokedAt).toBe(clock.nowMs());
    });

    it('keeps seq and kid checks bound to the bearer: an AAD for this agent under another key fails', async () => {
      const agent = await newAgent('bound-host');
      const other = await newAgent('bound-other');
      const now = clock.nowMs();
      const wrongKey = sealEnvelope(other.keys.get(1) as Uint8Array, { kid: 1, ts: now, seq: 1 }, reportAad(agent.agentId, 1, now, 1), Buffer.from(JSON.stringify({ reports: [report(now)] })));
      await expectRefused(agent, () => post(client, agent, wrongKey), 400, 'seal_invalid');
    });
  });
}

describe('report ingest with sealing not required', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_FLEET_REQUIRE_SEALING: 'false' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('accepts a plaintext batch, still checked against the schema, and still accepts sealed ones', async () => {
    const admin = await adminClient(t);
    const client = t.client();
    const agent = await enroll(client, (await createEnrollmentToken(admin)).token);
    const now = Date.now();
    const plain = await post(client, agent, { reports: [report(now)] });
    expect(plain.status, plain.text).toBe(200);
    expect(plain.json.accepted).toBe(1);
    expect((await post(client, agent, { reports: [report(now, { cpu: { percent: -1 } })] })).json.error.code).toBe('invalid_body');
    expect((await send(client, agent, [report(now + 1)], now)).status).toBe(200);
  });
});
