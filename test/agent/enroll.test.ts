import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollAgent, EnrollError } from '../../src/agent/enroll.js';
import { FileIdentityStore } from '../../src/agent/identity.js';
import { buildProgram } from '../../src/cli/main.js';
import { systemClock } from '../../src/lib/clock.js';
import { FakeAgentServer } from './fake-server.js';

let root: string;
let server: FakeAgentServer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-enroll-'));
  server = await FakeAgentServer.start();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => join(root, `case-${++n}`);

async function cli(args: string[]): Promise<{ out: string[]; error: unknown }> {
  const out: string[] = [];
  try {
    await buildProgram((line) => out.push(line)).parseAsync(['node', 'flotilla', ...args]);
    return { out, error: null };
  } catch (error) {
    return { out, error };
  }
}

describe('enrollment', () => {
  it('stores what the server issued, with the trust used, in a 0600 file', async () => {
    const store = new FileIdentityStore(freshDir());
    const trust = { kind: 'pin' as const, fingerprint: server.cert.fingerprint };
    const state = await enrollAgent({ serverUrl: server.url, token: server.token, trust, facts: { hostname: 'h' }, store, clock: systemClock });
    const saved = JSON.parse(await readFile(store.file, 'utf8'));
    expect(saved).toMatchObject({ serverUrl: server.url, agentId: state.identity.agentId, kid: 1, seq: 0, trust, intervalSeconds: 10 });
    expect(Buffer.from(state.sealingKey).equals(Buffer.from(server.keyOf(state.identity.agentId, 1)))).toBe(true);
    expect(saved.commandPublicKey).toBe(server.signer.publicKeyRaw);
    expect((await stat(store.file)).mode & 0o777).toBe(0o600);
    const sent = server.requests.at(-1);
    expect(sent?.body).toEqual({ token: server.token, facts: { hostname: 'h' } });
  });

  it('explains a refused token without repeating it', async () => {
    const wrong = `fle_${'0'.repeat(8)}-0000-7000-8000-000000000000_${'A'.repeat(43)}`;
    const store = new FileIdentityStore(freshDir());
    const err = await enrollAgent({ serverUrl: server.url, token: wrong, trust: { kind: 'pin', fingerprint: server.cert.fingerprint }, facts: {}, store, clock: systemClock }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrollError);
    expect((err as EnrollError).status).toBe(401);
    expect((err as Error).message).toMatch(/refused the enrollment token/);
    expect((err as Error).message).not.toContain('AAAAAAAA');
    expect(await store.exists()).toBe(false);
    await expect(enrollAgent({ serverUrl: server.url, token: 'nope', trust: { kind: 'system' }, facts: {}, store, clock: systemClock })).rejects.toThrow(/fle_/);
  });
});

describe('flotilla agent enroll', () => {
  it('enrolls with --pin, prints the agent id and refuses to overwrite without --force', async () => {
    const dir = freshDir();
    const args = ['agent', 'enroll', '--server', server.url, '--token', server.token, '--pin', server.cert.fingerprint, '--state-dir', dir];
    const first = await cli(args);
    expect(first.error).toBeNull();
    const id = /^enrolled agent (\S+)$/.exec(first.out[0] ?? '')?.[1];
    expect(id).toBeDefined();
    const saved = JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8'));
    expect(saved.agentId).toBe(id);
    expect((await stat(join(dir, 'agent.json'))).mode & 0o777).toBe(0o600);
    // The facts sent are this machine's, and fit the schema (the fake server took them as they are).
    expect((server.requests.at(-1)?.body as { facts: { platform: string } }).facts.platform).toBe(process.platform);

    const again = await cli(args);
    expect(String(again.error)).toMatch(/already enrolled/);
    const forced = await cli([...args, '--force']);
    expect(forced.error).toBeNull();
    expect(JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')).agentId).not.toBe(id);
  });

  it('refuses a wrong pin, plain http, and --ca with --pin', async () => {
    const dir = freshDir();
    const wrongPin = await cli(['agent', 'enroll', '--server', server.url, '--token', server.token, '--pin', `sha256:${'0'.repeat(64)}`, '--state-dir', dir]);
    expect(String(wrongPin.error)).toMatch(/does not match the pinned/);
    const http = await cli(['agent', 'enroll', '--server', `http://127.0.0.1:${server.port}`, '--token', server.token, '--state-dir', dir]);
    expect(String(http.error)).toMatch(/https/);
    const both = await cli(['agent', 'enroll', '--server', server.url, '--token', server.token, '--pin', server.cert.fingerprint, '--ca', '/x', '--state-dir', dir]);
    expect(String(both.error)).toMatch(/either --ca or --pin/);
    const noTrust = await cli(['agent', 'enroll', '--server', server.url, '--token', server.token, '--state-dir', dir]);
    expect(String(noTrust.error)).toMatch(/TLS verification/);
    expect(await new FileIdentityStore(dir).exists()).toBe(false);
  });
});
