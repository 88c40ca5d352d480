import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { deriveAgentKey } from '../../src/protocol/sealing.js';
import { fromBase64url } from '../../src/protocol/base64url.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { createEnrollmentToken, enroll, facts } from './agent-sim.js';

const REFUSED = { error: { code: 'enrollment_refused', message: 'the enrollment token is invalid, expired, used up or revoked' } };

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`enrollment over HTTPS (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    const clock = new ManualClock(Date.now());

    beforeAll(async () => {
      t = await startTestServer({ mode, clock });
      admin = await adminClient(t);
    });
    afterAll(async () => {
      await t?.close();
    });

    const countAgents = async () => Number((await t.server.services.sql.db.selectFrom('agents').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const tryEnroll = (token: string) => t.client().post('/api/agent/enroll', { token, facts: facts() }, { cookies: false });

    it('creates a token, enrolls an agent and hands it its keys once', async () => {
      const created = await admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 3600, maxUses: 2, note: 'lab' });
      expect(created.status).toBe(201);
      expect(created.json).toEqual({ id: expect.any(String), token: expect.stringMatching(/^fle_[0-9a-f-]{36}_[A-Za-z0-9_-]{43}$/), expiresAt: clock.nowMs() + 3600_000, maxUses: 2 });

      const res = await tryEnroll(created.json.token);
      expect(res.status).toBe(201);
      expect(Object.keys(res.json).sort()).toEqual(['agentId', 'apiKey', 'commandPublicKey', 'intervalSeconds', 'kid', 'sealingKey']);
      expect(res.json.apiKey.startsWith(`fla_${res.json.agentId}_`)).toBe(true);
      expect(res.json.apiKey.slice(`fla_${res.json.agentId}_`.length)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(res.json.kid).toBe(1);
      expect(res.json.intervalSeconds).toBe(10);
      expect(fromBase64url(res.json.commandPublicKey)?.byteLength).toBe(32);
      // The sealing key is the HKDF of §4, re-derivable by the server alone.
      const master = new Uint8Array(Buffer.from(t.server.services.secrets.e2ee, 'base64url'));
      expect(res.json.sealingKey).toBe(Buffer.from(deriveAgentKey(master, res.json.agentId, 1)).toString('base64url'));

      // Stored: only hashes, never the key or the token secret.
      const db = t.server.services.sql.db;
      const agent = await db.selectFrom('agents').selectAll().where('id', '=', res.json.agentId).executeTakeFirstOrThrow();
      const secret = res.json.apiKey.slice(`fla_${res.json.agentId}_`.length);
      expect(agent.keyHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(agent)).not.toContain(secret);
      const tokenRow = await db.selectFrom('enrollmentTokens').selectAll().where('id', '=', created.json.id).executeTakeFirstOrThrow();
      expect(JSON.stringify(tokenRow)).not.toContain(created.json.token.split('_').slice(2).join('_'));
      expect(tokenRow.uses).toBe(1);

      const machine = await admin.get(`/api/fleet/machines/${res.json.agentId}`);
      expect(machine.status).toBe(200);
      expect(machine.json.facts).toEqual(facts());
      expect(machine.json.status).toBe('offline');

      const list = await admin.get('/api/admin/enrollment-tokens');
      const listed = list.json.items.find((i: { id: string }) => i.id === created.json.id);
      expect(listed).toMatchObject({ note: 'lab', uses: 1, maxUses: 2, state: 'active' });
      expect(JSON.stringify(list.json)).not.toContain(created.json.token);
    });

    it('gives exactly maxUses agents when 60 enroll at once against maxUses 50', async () => {
      const { token } = await createEnrollmentToken(admin, { maxUses: 50 });
      const before = await countAgents();
      const answers = await Promise.all(Array.from({ length: 60 }, () => tryEnroll(token)));
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(50);
      expect(statuses.filter((s) => s === 401)).toHaveLength(10);
      for (const refused of answers.filter((a) => a.status === 401)) expect(refused.json).toEqual(REFUSED);
      expect(await countAgents()).toBe(before + 50);
      expect(new Set(answers.filter((a) => a.status === 201).map((a) => a.json.agentId)).size).toBe(50);
    });

    it('refuses an expired token with the one refusal', async () => {
      const { token } = await createEnrollmentToken(admin, { ttlSeconds: 60 });
      clock.advance(60_001);
      const before = await countAgents();
      const res = await tryEnroll(token);
      expect(res.status).toBe(401);
      expect(res.json).toEqual(REFUSED);
      expect(await countAgents()).toBe(before);
    });

    it('refuses a revoked token, and revoking is idempotent', async () => {
      const { id, token } = await createEnrollmentToken(admin);
      expect((await admin.send('DELETE', `/api/admin/enrollment-tokens/${id}`)).json).toEqual({ ok: true });
      expect((await admin.send('DELETE', `/api/admin/enrollment-tokens/${id}`)).status).toBe(200);
      const before = await countAgents();
      const res = await tryEnroll(token);
      expect(res.json).toEqual(REFUSED);
      expect(await countAgents()).toBe(before);
      const listed = (await admin.get('/api/admin/enrollment-tokens?limit=500')).json.items.find((i: { id: string }) => i.id === id);
      expect(listed.state).toBe('revoked');
      expect((await admin.send('DELETE', '/api/admin/enrollment-tokens/01890000-0000-7000-8000-000000000000')).status).toBe(404);
    });

    it('refuses a used-up token', async () => {
      const { token } = await createEnrollmentToken(admin, { maxUses: 1 });
      expect((await tryEnroll(token)).status).toBe(201);
      const res = await tryEnroll(token);
      expect(res.status).toBe(401);
      expect(res.json).toEqual(REFUSED);
    });

    it('answers unknown, malformed and wrong-secret tokens exactly like the others, and a wrong secret burns no use', async () => {
      const { id, token } = await createEnrollmentToken(admin, { maxUses: 1 });
      const wrongSecret = `fle_${id}_${'B'.repeat(43)}`;
      for (const bad of [wrongSecret, `fle_01890000-0000-7000-8000-000000000000_${'A'.repeat(43)}`, 'fle_nonsense', 'not-a-token']) {
        const res = await tryEnroll(bad);
        expect(res.status).toBe(401);
        expect(res.json).toEqual(REFUSED);
      }
      // The token's single use is still there.
      expect((await tryEnroll(token)).status).toBe(201);
    });

    it('pages the token list with an opaque cursor', async () => {
      for (let i = 0; i < 3; i++) await createEnrollmentToken(admin, { note: `page-${i}` });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { json: { items: Array<{ id: string }>; next: string | null } } = await admin.get(`/api/admin/enrollment-tokens?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...page.json.items.map((i) => i.id));
        cursor = page.json.next;
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual([...seen].sort().reverse());
      expect((await admin.get('/api/admin/enrollment-tokens?cursor=%25%25')).status).toBe(400);
    });

    it('answers a newly enrolled agent with an interval it will use', async () => {
      const { token } = await createEnrollmentToken(admin);
      const agent = await enroll(t.client(), token, facts({ hostname: 'interval-host' }));
      expect(agent.intervalSeconds).toBe(t.config.fleet.reportIntervalSeconds);
    });
  });
}
