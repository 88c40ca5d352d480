/**
 * Remote commands end to end over HTTPS: request, the two-person rule,
 * signing, delivery in report answers, sealed results, cancel, expiry,
 * fan-out to a tag, roles, and the audit chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { reportAad, resultAad, sealEnvelope } from '../../src/protocol/sealing.js';
import { verifyCommand, type SignedCommand } from '../../src/protocol/signing.js';
import type { HttpsClient, Reply } from '../harness/client.js';
import { adminClient, modes, startTestServer, type TestServer } from '../harness/server.js';
import { createUser } from '../e2e/mfa-helpers.js';
import { createEnrollmentToken, enroll, facts, post, report, type SimAgent } from '../fleet/agent-sim.js';

const SHA = 'a'.repeat(64);
const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`remote commands (${mode})`, () => {
    let t: TestServer;
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 9, 0, 0));
    let admin: HttpsClient;
    let admin2: HttpsClient;
    let operator: HttpsClient;
    let viewer: HttpsClient;
    let agentClient: HttpsClient;
    let agents: SimAgent[];
    const resultSeq = new Map<string, number>();

    beforeAll(async () => {
      t = await startTestServer({ mode, clock, env: { FLOTILLA_COMMANDS_APPROVALS: '2', FLOTILLA_COMMANDS_APPROVAL_WINDOW_SECONDS: '120' } });
      admin = await adminClient(t);
      admin2 = (await createUser(t, admin, 'sabine', 'admin', 'Other-Approver-Key-7')).client;
      operator = (await createUser(t, admin, 'oscar', 'operator', 'Requesting-Person-4')).client;
      viewer = (await createUser(t, admin, 'vera', 'viewer', 'Looking-Only-Here-5')).client;
      agentClient = t.client();
      const { token } = await createEnrollmentToken(admin, { maxUses: 10 });
      agents = [];
      for (let i = 0; i < 6; i += 1) agents.push(await enroll(agentClient, token, facts({ hostname: `cmd-host-${i}` })));
      // Five of them carry the tag; the sixth does not.
      for (const a of agents.slice(0, 5)) expect((await operator.send('PUT', `/api/fleet/machines/${a.agentId}/tags`, { tags: ['web'] })).status).toBe(200);
    }, 120_000);
    afterAll(async () => {
      await t?.close();
    });

    /** One sealed report; the answer's commands. */
    const reportNow = async (agent: SimAgent): Promise<SignedCommand[]> => {
      const ts = clock.nowMs();
      const seq = ++agent.seq;
      const key = agent.keys.get(agent.kid) as Uint8Array;
      const body = sealEnvelope(key, { kid: agent.kid, ts, seq }, reportAad(agent.agentId, agent.kid, ts, seq), Buffer.from(JSON.stringify({ reports: [report(ts)] })));
      const res = await post(agentClient, agent, body);
      expect(res.status, res.text).toBe(200);
      return res.json.commands as SignedCommand[];
    };
    /** Seals a result plaintext as the agent must; `aadCommandId` seals for another command (AAD tests). */
    const postResult = (agent: SimAgent, commandId: string, plaintext: unknown, opts: { aadCommandId?: string; apiKey?: string } = {}): Promise<Reply> => {
      const ts = clock.nowMs();
      const seq = (resultSeq.get(agent.agentId) ?? 0) + 1;
      resultSeq.set(agent.agentId, seq);
      const key = agent.keys.get(agent.kid) as Uint8Array;
      const aad = resultAad(agent.agentId, agent.kid, ts, seq, opts.aadCommandId ?? commandId);
      const body = sealEnvelope(key, { kid: agent.kid, ts, seq }, aad, Buffer.from(JSON.stringify(plaintext)));
      return agentClient.post(`/api/agent/commands/${commandId}/result`, body, { bearer: opts.apiKey ?? agent.apiKey, cookies: false });
    };
    const finished = (output: string) => ({
      status: 'succeeded',
      exitCode: 0,
      signal: null,
      startedAt: clock.nowMs() - 1000,
      finishedAt: clock.nowMs(),
      output,
      outputBytes: Buffer.byteLength(output),
      outputSha256: 'b'.repeat(64),
      truncated: false,
    });
    const request = async (client: HttpsClient, body: unknown): Promise<Reply> => client.send('POST', '/api/commands', body);
    const auditOf = async (resourceId: string, action: string) => {
      // Appends are durable shortly after the step; poll briefly.
      for (let i = 0; i < 40; i += 1) {
        const res = await admin.get(`/api/admin/audit?action=${action}&resourceId=${resourceId}`);
        if (res.status === 200 && res.json.items.length > 0) return res.json.items as Array<{ actorId: string | null; after: Record<string, unknown> }>;
        await new Promise((r) => setTimeout(r, 50));
      }
      return [];
    };

    it('runs a script after two other admins approve: signed for the machine, delivered once, result stored and shown', async () => {
      const [a] = agents as [SimAgent];
      const created = await request(operator, { action: 'run_script', params: { sha256: SHA, args: ['--fast'] }, targets: { machines: [a.agentId] } });
      expect(created.status, created.text).toBe(201);
      const id = created.json.id as string;
      expect(created.json).toMatchObject({ state: 'pending_approval', approvalsRequired: 2, scriptSha256: SHA, params: { sha256: SHA, args: ['--fast'] } });
      // Nothing is signed before approval.
      expect(await reportNow(a)).toEqual([]);

      // An operator cannot approve; one admin is not enough when commands.approvals is 2.
      expect((await operator.send('POST', `/api/commands/${id}/approve`, {})).status).toBe(403);
      const first = await admin.send('POST', `/api/commands/${id}/approve`, { comment: 'looks fine' });
      expect(first.status, first.text).toBe(200);
      expect(first.json.state).toBe('pending_approval');
      expect(await reportNow(a)).toEqual([]);
      // The same admin cannot count twice.
      expect((await admin.send('POST', `/api/commands/${id}/approve`, {})).json.error.code).toBe('already_decided');

      const second = await admin2.send('POST', `/api/commands/${id}/approve`, {});
      expect(second.status, second.text).toBe(200);
      expect(second.json.state).toBe('approved');

      const delivered = await reportNow(a);
      expect(delivered).toHaveLength(1);
      const cmd = delivered[0] as SignedCommand;
      expect(Object.keys(cmd).sort()).toEqual(['action', 'agentId', 'expiresAt', 'id', 'issuedAt', 'nonce', 'params', 'sig']);
      expect(cmd).toMatchObject({ agentId: a.agentId, action: 'run_script', params: { sha256: SHA, args: ['--fast'] }, expiresAt: clock.nowMs() + 600_000 });
      expect(cmd.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(verifyCommand(a.commandPublicKey, cmd)).toBe(true);
      // Delivered once: the next answer is empty.
      expect(await reportNow(a)).toEqual([]);

      expect((await postResult(a, cmd.id, { status: 'started', startedAt: clock.nowMs() })).status).toBe(200);
      expect((await admin.get(`/api/commands/${id}`)).json.progress.running).toBe(1);
      const done = await postResult(a, cmd.id, finished('rotated 3 files\n'));
      expect(done.status, done.text).toBe(200);
      expect(done.json).toEqual({ ok: true });

      const shown = await operator.get(`/api/commands/${id}`);
      expect(shown.json.progress).toMatchObject({ succeeded: 1, queued: 0, running: 0 });
      expect(shown.json.machines).toEqual([expect.objectContaining({ machineId: a.agentId, commandId: cmd.id, state: 'succeeded', exitCode: 0 })]);
      const results = await operator.get(`/api/commands/${id}/results`);
      expect(results.json.items).toEqual([expect.objectContaining({ machineId: a.agentId, output: 'rotated 3 files\n', outputSha256: 'b'.repeat(64), truncated: false })]);

      // Viewers see states, never arguments or output.
      const seen = await viewer.get(`/api/commands/${id}`);
      expect(seen.status).toBe(200);
      expect(seen.json.params).toEqual({ sha256: SHA });
      expect(seen.json.machines[0].state).toBe('succeeded');
      expect((await viewer.get(`/api/commands/${id}/results`)).status).toBe(403);
      const listed = await viewer.get('/api/commands');
      expect(listed.json.items.find((r: { id: string }) => r.id === id).params).toEqual({ sha256: SHA });
      expect(JSON.stringify((await viewer.get(`/api/fleet/machines/${a.agentId}/commands`)).json)).not.toContain('rotated');

      // A final result stored: the same again is fine, a different one is refused.
      expect((await postResult(a, cmd.id, finished('rotated 3 files\n'))).status).toBe(200);
      expect((await postResult(a, cmd.id, { ...finished('other'), outputSha256: 'c'.repeat(64) })).json.error.code).toBe('command_finished');

      for (const step of ['command_requested', 'command_approved', 'command_signed']) {
        const entries = await auditOf(id, step);
        expect(entries.length, step).toBeGreaterThan(0);
        expect(entries[0]?.after, step).toMatchObject({ action: 'run_script', scriptSha256: SHA, machines: [a.agentId] });
      }
      expect((await auditOf(id, 'command_approved')).length).toBe(2);
      for (const step of ['command_delivered', 'command_started', 'command_result']) {
        const entries = await auditOf(cmd.id, step);
        expect(entries.length, step).toBeGreaterThan(0);
        expect(entries[0]?.after, step).toMatchObject({ requestId: id, action: 'run_script', scriptSha256: SHA, machines: [a.agentId] });
      }
    });

    it('never lets the requester approve or reject their own request', async () => {
      const [a] = agents as [SimAgent];
      const created = await request(admin, { action: 'restart_agent', params: {}, targets: { machines: [a.agentId] } });
      expect(created.status, created.text).toBe(201);
      const id = created.json.id as string;
      for (const verb of ['approve', 'reject']) {
        const res = await admin.send('POST', `/api/commands/${id}/${verb}`, {});
        expect(res.status, verb).toBe(403);
        expect(res.json.error.code, verb).toBe('own_request');
      }
      const rejected = await admin2.send('POST', `/api/commands/${id}/reject`, { comment: 'not now' });
      expect(rejected.json.state).toBe('rejected');
      expect(await reportNow(a)).toEqual([]);
      expect((await auditOf(id, 'command_rejected'))[0]?.actorId).toBeTruthy();
    });

    it('refuses requests from viewers and bad requests with clear 4xx', async () => {
      const [a] = agents as [SimAgent];
      const denied = await request(viewer, { action: 'ping', params: {}, targets: { machines: [a.agentId] } });
      expect(denied.status).toBe(403);
      const cases: Array<[unknown, number, string]> = [
        [{ action: 'format_disk', params: {}, targets: { machines: [a.agentId] } }, 400, 'invalid_params'],
        [{ action: 'run_script', params: { sha256: SHA }, targets: { machines: [a.agentId] } }, 400, 'invalid_params'],
        [{ action: 'run_script', params: { sha256: 'XYZ', args: [] }, targets: { machines: [a.agentId] } }, 400, 'invalid_params'],
        [{ action: 'ping', params: {}, targets: { machines: [UNKNOWN_ID] } }, 404, 'machine_not_found'],
        [{ action: 'ping', params: {}, targets: { tag: 'nobody-has-this' } }, 409, 'no_targets'],
      ];
      for (const [body, status, code] of cases) {
        const res = await request(operator, body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.json.error.code, JSON.stringify(body)).toBe(code);
      }
    });

    it('refuses an approval once the approval window has passed', async () => {
      const [a] = agents as [SimAgent];
      const created = await request(operator, { action: 'restart_agent', params: {}, targets: { machines: [a.agentId] } });
      const id = created.json.id as string;
      clock.advance(121_000);
      const late = await admin.send('POST', `/api/commands/${id}/approve`, {});
      expect(late.status).toBe(409);
      expect(late.json.error.code).toBe('approval_expired');
      expect((await admin.get(`/api/commands/${id}`)).json.state).toBe('expired');
      expect(await reportNow(a)).toEqual([]);
    });

    it('cancels before delivery: the command is never delivered', async () => {
      const [, b] = agents as [SimAgent, SimAgent];
      const created = await request(operator, { action: 'ping', params: {}, targets: { machines: [b.agentId] } });
      expect(created.json.state).toBe('approved');
      const id = created.json.id as string;
      // A viewer cannot cancel.
      expect((await viewer.send('POST', `/api/commands/${id}/cancel`)).status).toBe(403);
      const cancelled = await operator.send('POST', `/api/commands/${id}/cancel`);
      expect(cancelled.status, cancelled.text).toBe(200);
      expect(cancelled.json.state).toBe('cancelled');
      expect(await reportNow(b)).toEqual([]);
      expect((await admin.get(`/api/commands/${id}`)).json.progress).toMatchObject({ cancelled: 1, delivered: 0 });
      expect((await auditOf(id, 'command_cancelled'))[0]?.after).toMatchObject({ action: 'ping', machines: [b.agentId] });

      // Once delivered, a cancel is refused.
      const next = await request(operator, { action: 'ping', params: {}, targets: { machines: [b.agentId] } });
      expect(await reportNow(b)).toHaveLength(1);
      expect((await operator.send('POST', `/api/commands/${next.json.id as string}/cancel`)).json.error.code).toBe('already_delivered');
    });

    it('never delivers an expired command', async () => {
      const [, b] = agents as [SimAgent, SimAgent];
      const created = await request(operator, { action: 'collect', params: {}, targets: { machines: [b.agentId] }, ttlSeconds: 10 });
      clock.advance(11_000);
      expect(await reportNow(b)).toEqual([]);
      expect((await admin.get(`/api/commands/${created.json.id as string}`)).json.progress).toMatchObject({ expired: 1 });
    });

    it('refuses results it cannot open, for unknown ids or another agent, and changes nothing', async () => {
      const [, , c, d] = agents as [SimAgent, SimAgent, SimAgent, SimAgent];
      const created = await request(operator, { action: 'diagnostics', params: {}, targets: { machines: [c.agentId, d.agentId] } });
      const id = created.json.id as string;
      const [cmdC] = await reportNow(c);
      const [cmdD] = await reportNow(d);
      if (!cmdC || !cmdD) throw new Error('not delivered');

      expect((await postResult(c, UNKNOWN_ID, finished('x'))).json.error.code).toBe('command_not_found');
      // Another agent's command reads as unknown, even sealed with its own key.
      expect((await postResult(d, cmdC.id, finished('forged'))).json.error.code).toBe('command_not_found');
      // Sealed for one command, posted for another: the AAD does not match.
      const swapped = await postResult(c, cmdC.id, finished('swapped'), { aadCommandId: cmdD.id });
      expect(swapped.status).toBe(400);
      expect(swapped.json.error.code).toBe('seal_invalid');
      // Not an envelope at all.
      const plain = await agentClient.post(`/api/agent/commands/${cmdC.id}/result`, finished('plain'), { bearer: c.apiKey, cookies: false });
      expect(plain.status).toBe(400);
      // Sealed with another agent's key, posted with this agent's API key.
      const ts = clock.nowMs();
      const otherKey = d.keys.get(d.kid) as Uint8Array;
      const wrongKey = sealEnvelope(otherKey, { kid: c.kid, ts, seq: 900 }, resultAad(c.agentId, c.kid, ts, 900, cmdC.id), Buffer.from(JSON.stringify(finished('wrong key'))));
      expect((await agentClient.post(`/api/agent/commands/${cmdC.id}/result`, wrongKey, { bearer: c.apiKey, cookies: false })).json.error.code).toBe('seal_invalid');

      const shown = await operator.get(`/api/commands/${id}/results`);
      for (const item of shown.json.items) {
        expect(item.state).toBe('delivered');
        expect(item.output).toBeNull();
      }
      // The genuine result still goes in afterwards.
      expect((await postResult(c, cmdC.id, { status: 'refused', reason: 'action_not_allowed', message: 'diagnostics is not allowed' })).status).toBe(200);
      const after = await operator.get(`/api/commands/${id}`);
      expect(after.json.progress).toMatchObject({ refused: 1, delivered: 1 });
      expect((await auditOf(cmdC.id, 'command_refused'))[0]?.after).toMatchObject({ reason: 'action_not_allowed', machines: [c.agentId] });
    });

    it('fans out to every machine with a tag: one signed command each, with progress', async () => {
      const created = await request(operator, { action: 'ping', params: {}, targets: { tag: 'web' } });
      expect(created.status, created.text).toBe(201);
      const id = created.json.id as string;
      expect((await operator.get(`/api/commands/${id}`)).json.progress).toMatchObject({ queued: 5 });
      const tagged = agents.slice(0, 5);
      const received: SignedCommand[] = [];
      for (const a of tagged) {
        const cmds = (await reportNow(a)).filter((cmd) => cmd.action === 'ping');
        expect(cmds).toHaveLength(1);
        const cmd = cmds[0] as SignedCommand;
        expect(cmd.agentId).toBe(a.agentId);
        expect(verifyCommand(a.commandPublicKey, cmd)).toBe(true);
        received.push(cmd);
      }
      expect(new Set(received.map((c) => c.id)).size).toBe(5);
      expect(new Set(received.map((c) => c.nonce)).size).toBe(5);
      // The untagged machine gets nothing.
      expect(await reportNow(agents[5] as SimAgent)).toEqual([]);
      expect((await operator.get(`/api/commands/${id}`)).json.progress).toMatchObject({ queued: 0, delivered: 5 });
      for (const [i, a] of tagged.slice(0, 3).entries()) {
        const cmd = received[i] as SignedCommand;
        const status = i === 2 ? 'failed' : 'succeeded';
        expect((await postResult(a, cmd.id, { ...finished('pong'), status, exitCode: i === 2 ? 1 : 0 })).status).toBe(200);
      }
      const progress = (await operator.get(`/api/commands/${id}`)).json.progress;
      expect(progress).toMatchObject({ delivered: 2, succeeded: 2, failed: 1 });
      expect((await auditOf(id, 'command_signed'))[0]?.after).toMatchObject({ count: 5, tags: ['web'] });
      const mine = await viewer.get(`/api/commands?machine=${(tagged[0] as SimAgent).agentId}`);
      expect(mine.json.items.some((r: { id: string }) => r.id === id)).toBe(true);
    });
  });
}
