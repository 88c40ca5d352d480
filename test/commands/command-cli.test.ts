/**
 * `flotilla command …` as a person runs it: a child process talking to a real
 * server over HTTPS with a bearer token, so roles, the two-person rule and TLS
 * trust are the server's and the transport's, not the CLI's say-so.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedCommand } from '../../src/protocol/signing.js';
import { cleanEnv, runCli, type CliResult } from '../harness/cli.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { createUser } from '../e2e/mfa-helpers.js';
import { createEnrollmentToken, enroll, facts, report, send, type SimAgent } from '../fleet/agent-sim.js';

const SHA = 'c'.repeat(64);

describe('flotilla command send|list|show|approve|reject|cancel', () => {
  let t: TestServer;
  let admin: HttpsClient;
  let agentClient: HttpsClient;
  let agent: SimAgent;
  let url: string;
  const tokens: Record<'admin' | 'admin2' | 'operator' | 'viewer', string> = { admin: '', admin2: '', operator: '', viewer: '' };
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-command-cli-'));

  /** A bearer access token, as a script gets one (POST /api/auth/token). */
  const tokenFor = async (username: string, password: string): Promise<string> => {
    const res = await t.client().post('/api/auth/token', { username, password }, { cookies: false });
    if (res.status !== 200 || typeof res.json.accessToken !== 'string') throw new Error(`token for ${username}: ${res.status} ${res.text}`);
    return res.json.accessToken as string;
  };
  const cli = (who: keyof typeof tokens, ...args: string[]): Promise<CliResult> =>
    runCli(['command', ...args], { env: cleanEnv({ FLOTILLA_SERVER: url, FLOTILLA_PIN: t.server.certificate.fingerprint, FLOTILLA_TOKEN: tokens[who] }) });
  const json = (r: CliResult) => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  beforeAll(async () => {
    t = await startTestServer();
    url = `https://127.0.0.1:${t.server.port}`;
    admin = await adminClient(t);
    await createUser(t, admin, 'sabine', 'admin', 'Other-Approver-Key-7');
    await createUser(t, admin, 'oscar', 'operator', 'Requesting-Person-4');
    await createUser(t, admin, 'vera', 'viewer', 'Looking-Only-Here-5');
    tokens.admin = await tokenFor('admin', STRONG_PASSWORD);
    tokens.admin2 = await tokenFor('sabine', 'Other-Approver-Key-7');
    tokens.operator = await tokenFor('oscar', 'Requesting-Person-4');
    tokens.viewer = await tokenFor('vera', 'Looking-Only-Here-5');
    agentClient = t.client();
    const { token } = await createEnrollmentToken(admin, { maxUses: 1 });
    agent = await enroll(agentClient, token, facts({ hostname: 'cli-target' }));
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a ping that the agent receives, then lists and shows it with its per-machine state', async () => {
    const created = json(await cli('operator', 'send', '--action', 'ping', '--machine', agent.agentId, '--ttl', '10m', '--json'));
    expect(created).toMatchObject({ action: 'ping', state: 'approved', target: { machines: [agent.agentId] }, ttlSeconds: 600 });
    const id = created.id as string;

    // The agent's next report answer carries the signed ping.
    const answer = await send(agentClient, agent, [report(Date.now())]);
    expect(answer.status, answer.text).toBe(200);
    expect((answer.json.commands as SignedCommand[]).map((c) => c.action)).toEqual(['ping']);

    const listed = await cli('operator', 'list', '--machine', agent.agentId);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n').filter((line) => line.startsWith(`${id}\tapproved\tping\tmachines:1\t`))).toHaveLength(1);

    const shown = await cli('viewer', 'show', id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('state: approved');
    expect(shown.stdout).toContain('progress: delivered 1');
    expect(shown.stdout.split('\n')).toContain(`  ${agent.agentId}\tdelivered`);

    const detail = json(await cli('operator', 'show', id, '--json'));
    expect(detail.progress).toMatchObject({ delivered: 1, queued: 0 });
    expect(detail.machines).toEqual([expect.objectContaining({ machineId: agent.agentId, state: 'delivered' })]);
  }, 60_000);

  it('refuses a viewer that tries to send: exit 1, the API error, nothing requested', async () => {
    const before = await admin.get('/api/commands');
    const refused = await cli('viewer', 'send', '--action', 'ping', '--machine', agent.agentId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: forbidden: .+\n$/);
    expect(refused.stderr).not.toMatch(/\bat .+:\d+:\d+/);
    expect(refused.stdout).toBe('');
    expect((await admin.get('/api/commands')).json.items).toHaveLength(before.json.items.length);
  }, 60_000);

  it('holds a run_script for a second admin: the operator and the requesting admin cannot approve it, another admin does', async () => {
    const created = json(await cli('operator', 'send', '--action', 'run_script', '--machine', agent.agentId, '--sha256', SHA, '--arg', '--fast', '--arg', 'x y', '--json'));
    expect(created).toMatchObject({ state: 'pending_approval', scriptSha256: SHA, params: { sha256: SHA, args: ['--fast', 'x y'] } });
    const id = created.id as string;

    const byOperator = await cli('operator', 'approve', id);
    expect(byOperator.code).toBe(1);
    expect(byOperator.stderr).toMatch(/^error: forbidden: /);

    const approved = await cli('admin2', 'approve', id, '--comment', 'checked the hash');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toBe(`${id}: approved, now approved (approvals 1/1)\n`);
    expect((await admin.get(`/api/commands/${id}`)).json).toMatchObject({ state: 'approved', approvals: [expect.objectContaining({ decision: 'approved' })] });

    // An admin's own request still needs someone else.
    const own = json(await cli('admin', 'send', '--action', 'restart_agent', '--machine', agent.agentId, '--json'));
    expect(own.state).toBe('pending_approval');
    const self = await cli('admin', 'approve', own.id as string);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/^error: own_request: /);
    const rejected = await cli('admin2', 'reject', own.id as string, '--comment', 'not now');
    expect(rejected.code, rejected.stderr).toBe(0);
    expect((await admin.get(`/api/commands/${own.id as string}`)).json.state).toBe('rejected');

    const pending = await cli('viewer', 'list', '--state', 'pending_approval', '--json');
    expect(json(pending).items).toEqual([]);
  }, 90_000);

  it('cancels a request before any machine received it', async () => {
    const created = json(await cli('operator', 'send', '--action', 'diagnostics', '--machine', agent.agentId, '--json'));
    const cancelled = await cli('operator', 'cancel', created.id as string);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(`${created.id as string}: cancelled\n`);
    const again = await cli('operator', 'cancel', created.id as string);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: not_cancellable: /);
  }, 60_000);

  it('exits 2 with a clear message without FLOTILLA_TOKEN or a server, and never takes the token as a flag', async () => {
    const noToken = await runCli(['command', 'list', '--server', url, '--pin', t.server.certificate.fingerprint], { env: cleanEnv() });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe('error: no access token: set FLOTILLA_TOKEN to a bearer access token (POST /api/auth/token)\n');

    const noServer = await runCli(['command', 'list'], { env: cleanEnv({ FLOTILLA_TOKEN: tokens.viewer }) });
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toMatch(/^error: no server: /);

    // An id goes into the URL path: anything but a UUID is refused before a request is made.
    const badId = await cli('viewer', 'show', '../../admin/users');
    expect(badId.code).toBe(2);
    expect(badId.stderr).toBe('error: id: not an id: "../../admin/users"\n');

    const flag = await runCli(['command', 'list', '--token', tokens.viewer], { env: cleanEnv({ FLOTILLA_SERVER: url, FLOTILLA_PIN: t.server.certificate.fingerprint }) });
    expect(flag.code).not.toBe(0);
    expect(flag.stdout).toBe('');
  }, 60_000);

  it('verifies the server: a wrong pin or no trust refuses to connect, the right CA file connects', async () => {
    const wrongPin = `sha256:${'0'.repeat(64)}`;
    const pinned = await runCli(['command', 'list', '--pin', wrongPin], { env: cleanEnv({ FLOTILLA_SERVER: url, FLOTILLA_TOKEN: tokens.viewer }) });
    expect(pinned.code).toBe(1);
    expect(pinned.stderr).toBe(`error: the server certificate ${t.server.certificate.fingerprint} does not match the pinned ${wrongPin}; refusing to connect\n`);
    expect(pinned.stderr).not.toContain(tokens.viewer);

    // The token never travels in plain HTTP.
    const plain = await runCli(['command', 'list'], { env: cleanEnv({ FLOTILLA_SERVER: `http://127.0.0.1:${t.server.port}`, FLOTILLA_TOKEN: tokens.viewer }) });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^error: the server URL must start with https:\/\//);

    // The test server's certificate is self-signed: the system store does not vouch for it.
    const system = await runCli(['command', 'list'], { env: cleanEnv({ FLOTILLA_SERVER: url, FLOTILLA_TOKEN: tokens.viewer }) });
    expect(system.code).toBe(1);
    expect(system.stderr).toMatch(/^error: TLS verification of 127\.0\.0\.1:\d+ failed/);

    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, t.server.certificate.certPem);
    const trusted = await runCli(['command', 'list', '--ca', caFile], { env: cleanEnv({ FLOTILLA_SERVER: `https://localhost:${t.server.port}`, FLOTILLA_TOKEN: tokens.viewer }) });
    expect(trusted.code, trusted.stderr).toBe(0);
  }, 60_000);
});
