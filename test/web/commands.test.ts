/**
 * The Commands page in Chromium: an operator pings a simulated agent's machine
 * and follows it to the agent's output (markup in it stays text), requests a
 * restart that a second admin approves from the queue (the queue offers no
 * decision on the admin's own request, which they cancel instead), the
 * machine page lists both, and a viewer reads the requests without the form
 * or any output.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { resultAad, sealEnvelope } from '../../src/protocol/sealing.js';
import type { SignedCommand } from '../../src/protocol/signing.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, type TestServer } from '../harness/server.js';
import { createUser } from '../e2e/mfa-helpers.js';
import { createEnrollmentToken, enroll, facts, report, send, type SimAgent } from '../fleet/agent-sim.js';
import { chromiumAvailable, launchBrowser, type TestBrowser, type WatchedPage } from './browser.js';
import { expectClean, signIn } from './flows.js';

const OPERATOR = { username: 'oscar', password: 'Requesting-Person-4' };
const APPROVER = { username: 'sabine', password: 'Other-Approver-Key-7' };
const VIEWER = { username: 'vera', password: 'Looking-Only-Here-5' };
const HOSTNAME = 'cmd-web-host';
/** Would run script if the page rendered the output as HTML. */
const MARKUP_OUTPUT = 'pong <img src=x onerror="window.__pwned=1"><b>bold</b>\n';
const runnable = chromiumAvailable() || process.env.FLOTILLA_REQUIRE_SERVICES === '1';

describe.skipIf(!runnable)('the Commands page in Chromium', () => {
  let t: TestServer;
  let browser: TestBrowser;
  let w: WatchedPage;
  let admin: HttpsClient;
  let approver: HttpsClient;
  let agentClient: HttpsClient;
  let agent: SimAgent;
  let resultSeq = 0;

  beforeAll(async () => {
    expect(chromiumAvailable(), '/usr/bin/chromium is required (FLOTILLA_REQUIRE_SERVICES=1)').toBe(true);
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    t = await startTestServer();
    admin = await adminClient(t);
    await createUser(t, admin, OPERATOR.username, 'operator', OPERATOR.password);
    approver = (await createUser(t, admin, APPROVER.username, 'admin', APPROVER.password)).client;
    await createUser(t, admin, VIEWER.username, 'viewer', VIEWER.password);
    agentClient = t.client();
    const { token } = await createEnrollmentToken(admin);
    agent = await enroll(agentClient, token, facts({ hostname: HOSTNAME }));
    expect((await send(agentClient, agent, [report(Date.now())], Date.now())).status).toBe(200);
    browser = await launchBrowser();
    w = await browser.open();
  }, 120_000);
  afterEach(() => expectClean(w));
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** One report as the agent; the commands its answer carries. */
  const deliver = async (): Promise<SignedCommand[]> => {
    const res = await send(agentClient, agent, [report(Date.now())], Date.now());
    expect(res.status, res.text).toBe(200);
    return res.json.commands as SignedCommand[];
  };
  const postResult = async (commandId: string, output: string) => {
    const ts = Date.now();
    resultSeq += 1;
    const key = agent.keys.get(agent.kid) as Uint8Array;
    const plaintext = { status: 'succeeded', exitCode: 0, signal: null, startedAt: ts - 1000, finishedAt: ts, output, outputBytes: Buffer.byteLength(output), outputSha256: 'b'.repeat(64), truncated: false };
    const body = sealEnvelope(key, { kid: agent.kid, ts, seq: resultSeq }, resultAad(agent.agentId, agent.kid, ts, resultSeq, commandId), Buffer.from(JSON.stringify(plaintext)));
    const res = await agentClient.post(`/api/agent/commands/${commandId}/result`, body, { bearer: agent.apiKey, cookies: false });
    expect(res.status, res.text).toBe(200);
  };
  const nav = () => w.page.getByRole('navigation', { name: 'Main' });
  const signOut = async () => {
    await w.page.getByRole('button', { name: 'Sign out' }).click();
    await w.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  };

  it('lets an operator ping a machine and follow it to the output, shown as text', async () => {
    await w.page.goto(t.server.url);
    await signIn(w.page, OPERATOR.username, OPERATOR.password);
    await nav().getByRole('link', { name: 'Commands' }).click();
    await w.page.getByRole('heading', { name: 'Commands', exact: true }).waitFor();

    await w.page.getByLabel('Search machines').fill('cmd-web');
    await w.page.getByRole('list', { name: 'Machines to target' }).getByLabel(HOSTNAME).check();
    await w.page.getByRole('button', { name: 'Send command' }).click();
    await w.page.getByText('Sent Ping to 1 machine.').waitFor();
    const row = w.page.getByRole('table', { name: 'Command requests' }).getByRole('row').filter({ hasText: 'Ping' });
    await row.getByText('Approved').waitFor();

    // The detail page polls: the agent picks the command up and answers while the page is open.
    await w.page.getByRole('link', { name: 'Follow its progress' }).click();
    await w.page.getByRole('heading', { name: 'Ping · 1 machine' }).waitFor();
    const machines = w.page.getByRole('table', { name: 'Machines' });
    await machines.getByRole('cell', { name: 'Queued' }).waitFor();
    const [command] = await deliver();
    expect(command?.action).toBe('ping');
    await postResult(command?.id ?? '', MARKUP_OUTPUT);
    await machines.getByRole('cell', { name: 'Succeeded' }).waitFor({ timeout: 10_000 });
    await w.page.getByText('updating every').waitFor({ state: 'detached' });

    await w.page.getByText(/^Output \(/).click();
    const output = w.page.locator('pre.command-output');
    expect(await output.textContent()).toBe(MARKUP_OUTPUT);
    expect(await output.locator('img, b').count()).toBe(0);
    expect(await w.page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await w.screenshot('51-command-detail');
  });

  it('lets a second admin approve a restart from the queue, never their own request', async () => {
    await w.page.getByRole('link', { name: '← Commands' }).click();
    await w.page.getByLabel('Action').selectOption('restart_agent');
    await w.page.getByLabel('Search machines').fill(HOSTNAME);
    await w.page.getByRole('list', { name: 'Machines to target' }).getByLabel(HOSTNAME).check();
    await w.page.getByRole('button', { name: 'Request approval' }).click();
    await w.page.getByText('Requested Restart the agent to 1 machine.').waitFor();
    // An operator has no approval queue.
    expect(await w.page.getByRole('heading', { name: 'Approval queue' }).count()).toBe(0);
    await signOut();

    // The approver's own pending request waits in the same queue.
    const own = await approver.send('POST', '/api/commands', { action: 'restart_agent', params: {}, targets: { machines: [agent.agentId] } });
    expect(own.status, own.text).toBe(201);

    await signIn(w.page, APPROVER.username, APPROVER.password);
    await nav().getByRole('link', { name: 'Commands' }).click();
    const queue = w.page.getByRole('table', { name: 'Requests waiting for approval' });
    await queue.getByRole('row').filter({ hasText: 'Restart the agent' }).nth(1).waitFor();
    const ownRow = queue.getByRole('row').filter({ hasText: 'Your request' });
    expect(await ownRow.count()).toBe(1);
    expect(await ownRow.getByRole('button').count()).toBe(0);
    const operatorRow = queue.getByRole('row').filter({ hasText: 'Restart the agent' }).filter({ hasNotText: 'Your request' });
    await w.screenshot('50-commands-approval-queue');
    await operatorRow.getByRole('button', { name: 'Approve' }).click();
    await operatorRow.getByRole('button', { name: 'Confirm' }).click();
    await w.page.getByText('Approved Restart the agent (1 machine).').waitFor();
    await expect.poll(() => queue.getByRole('row').filter({ hasText: 'Restart the agent' }).count()).toBe(1);

    const listed = await admin.get('/api/commands?state=approved');
    const approved = (listed.json.items as Array<{ id: string; action: string; approvals: Array<{ userId: string }> }>).filter((r) => r.action === 'restart_agent');
    expect(approved).toHaveLength(1);
    expect(approved[0]?.id).not.toBe(own.json.id);
    const pending = await admin.get('/api/commands?state=pending_approval');
    expect((pending.json.items as Array<{ id: string }>).map((r) => r.id)).toEqual([own.json.id]);

    // The approver withdraws their own request from its page.
    await ownRow.getByRole('link', { name: 'Restart the agent' }).click();
    await w.page.getByRole('heading', { name: 'Restart the agent · 1 machine' }).waitFor();
    await w.page.getByRole('button', { name: 'Cancel request' }).click();
    await w.page.getByRole('button', { name: 'Confirm' }).click();
    await w.page.getByText('Cancelled.').waitFor();
    expect((await admin.get(`/api/commands/${own.json.id as string}`)).json.state).toBe('cancelled');
    expect(await w.page.getByRole('button', { name: 'Cancel request' }).count()).toBe(0);
  });

  it("lists the machine's commands and their states on its page", async () => {
    await w.page.goto(`${t.server.url}/machines/${agent.agentId}`);
    const card = w.page.getByRole('table', { name: 'Commands sent to this machine' });
    await card.getByRole('row').filter({ hasText: 'Ping' }).getByRole('cell', { name: 'Succeeded' }).waitFor();
    await card.getByRole('row').filter({ hasText: 'Restart the agent' }).getByRole('cell', { name: 'Queued' }).waitFor();
    expect(await card.getByRole('row').count()).toBe(3);
  });

  it('shows a viewer the requests read-only, without the form or any output', async () => {
    await signOut();
    await signIn(w.page, VIEWER.username, VIEWER.password);
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    expect(await nav().getByRole('link', { name: 'Commands' }).count()).toBe(0);
    await w.page.goto(`${t.server.url}/commands`);
    const row = w.page.getByRole('table', { name: 'Command requests' }).getByRole('row').filter({ hasText: 'Ping' });
    await row.waitFor();
    expect(await w.page.getByRole('heading', { name: 'New command' }).count()).toBe(0);
    expect(await w.page.getByRole('heading', { name: 'Approval queue' }).count()).toBe(0);
    await row.getByRole('link', { name: 'Ping' }).click();
    await w.page.getByRole('table', { name: 'Machines' }).getByRole('cell', { name: 'Succeeded' }).waitFor();
    expect(await w.page.getByRole('columnheader', { name: 'Output' }).count()).toBe(0);
    expect(await w.page.locator('pre.command-output').count()).toBe(0);
  });
});
