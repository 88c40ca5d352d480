import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IDENTITY_FILE } from '../../src/agent/identity.js';
import type { FinalResult, RefusedResult } from '../../src/protocol/command-result.js';
import { commandSignerFromSeed } from '../../src/protocol/signing.js';
import { randomBytes } from 'node:crypto';
import { counterScript, enrolled, finalResult, hostDir, otherSigner, payload, runs, sha256, signed, startAgent, writePolicy, type RunningAgent } from './command-fixture.js';
import { FakeAgentServer } from './fake-server.js';

let root: string;
let server: FakeAgentServer;
let counter: string;
let policyFile: string;
let allowed: { path: string; sha256: string };
let listArgs: { path: string; sha256: string };
let agent: RunningAgent;

beforeAll(async () => {
  root = await hostDir('flotilla-agent-cmd-');
  server = await FakeAgentServer.start();
  counter = join(root, 'counter');
  allowed = await counterScript(root, 'allowed.sh', counter, 'echo "ran $*"; env');
  listArgs = await counterScript(root, 'list-args.sh', counter);
  policyFile = await writePolicy(root, {
    actions: {
      ping: {},
      diagnostics: {},
      run_script: {
        workingDirectory: root,
        scripts: [
          { path: allowed.path, sha256: allowed.sha256, args: 'none' },
          { path: listArgs.path, sha256: listArgs.sha256, args: ['--dry-run', '--days=*'] },
        ],
      },
    },
  });
  agent = startAgent(await enrolled(server, root), policyFile);
});
afterAll(async () => {
  await agent?.stop();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const refusedWith = async (commandId: string): Promise<RefusedResult> => (await finalResult(server, commandId)) as RefusedResult;
const loggedRefusal = (reason: string) => agent.log.lines.filter((l) => l.msg === 'refusing a command' && l.fields?.reason === reason).length;

describe('agent commands: what runs', () => {
  it('runs an allowed script with a scrubbed environment: started, then succeeded', async () => {
    process.env.FLOTILLA_TEST_CANARY = 'must-not-leak';
    const before = await runs(counter);
    const cmd = signed(server, agent.agentId, 'run_script', { sha256: allowed.sha256, args: [] });
    server.deliver(agent.agentId, cmd);
    const result = (await finalResult(server, cmd.id)) as FinalResult;
    expect(result.status).toBe('succeeded');
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain('ran');
    expect(result.output).not.toContain('must-not-leak');
    const env = result.output.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]);
    // sh adds PWD itself; nothing comes from the agent's environment.
    expect(env.filter((k) => !['PWD', 'SHLVL', 'OLDPWD', '_'].includes(k ?? '')).sort()).toEqual(['HOME', 'LANG', 'PATH']);
    expect(result.output).toContain('PATH=/usr/sbin:/usr/bin:/sbin:/bin');
    expect(result.output).toContain(`HOME=${root}`);
    expect(result.outputSha256).toBe(sha256(Buffer.from(result.output, 'utf8')));
    expect(result.truncated).toBe(false);
    expect(server.resultsFor(cmd.id).map((r) => r.status)).toEqual(['started', 'succeeded']);
    expect(await runs(counter)).toBe(before + 1);
  });

  it('answers ping with pong, and diagnostics without secrets', async () => {
    const ping = signed(server, agent.agentId, 'ping', {});
    const diag = signed(server, agent.agentId, 'diagnostics', {});
    server.deliver(agent.agentId, ping, diag);
    expect(await finalResult(server, ping.id)).toMatchObject({ status: 'succeeded', output: 'pong', exitCode: 0 });
    const d = (await finalResult(server, diag.id)) as FinalResult;
    expect(d.status).toBe('succeeded');
    const identity = JSON.parse(await readFile(join(agent.stateDir, IDENTITY_FILE), 'utf8')) as { apiKey: string; sealingKey: string };
    const parsed = JSON.parse(d.output) as { agentId: string; version: string; log: string[] };
    expect(parsed.agentId).toBe(agent.agentId);
    expect(parsed.log.length).toBeGreaterThan(0);
    expect(d.output).not.toContain(identity.apiKey);
    expect(d.output).not.toContain(identity.sealingKey);
  });
});

describe('agent commands: refused, and nothing runs', () => {
  it('a forged signature, a tampered params field, another agent id, an expired command', async () => {
    const before = await runs(counter);
    const forged = otherSigner.sign(payload(agent.agentId, 'run_script', { sha256: allowed.sha256, args: [] }));
    const good = signed(server, agent.agentId, 'run_script', { sha256: listArgs.sha256, args: ['--dry-run'] });
    const tampered = { ...good, params: { sha256: listArgs.sha256, args: ['--days=1; rm -rf /'] } };
    const otherAgent = signed(server, '0194f3a0-6c1e-7b2a-9d4e-5f6a7b8c9d0e', 'run_script', { sha256: allowed.sha256, args: [] });
    const expired = signed(server, agent.agentId, 'run_script', { sha256: allowed.sha256, args: [] }, { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 1_000 });
    const forever = signed(server, agent.agentId, 'run_script', { sha256: allowed.sha256, args: [] }, { expiresAt: Date.now() + 30 * 86_400_000 });
    const otherBefore = loggedRefusal('other_agent');
    server.deliver(agent.agentId, forged, tampered, otherAgent, expired, forever);
    expect(await refusedWith(forged.id)).toMatchObject({ status: 'refused', reason: 'bad_signature' });
    expect(await refusedWith(tampered.id)).toMatchObject({ status: 'refused', reason: 'bad_signature' });
    expect(await refusedWith(expired.id)).toMatchObject({ status: 'refused', reason: 'expired' });
    expect(await refusedWith(forever.id)).toMatchObject({ status: 'refused', reason: 'expired' });
    // Another agent's command is not answered under this agent; it is only logged.
    await vi.waitFor(() => expect(loggedRefusal('other_agent')).toBe(otherBefore + 1));
    expect(server.resultsFor(otherAgent.id)).toEqual([]);
    for (const c of [forged, tampered, expired, forever]) expect(server.resultsFor(c.id).map((r) => r.status)).toEqual(['refused']);
    expect(await runs(counter)).toBe(before);
  });

  it('an action, a script, or args outside the policy', async () => {
    const before = await runs(counter);
    const restart = signed(server, agent.agentId, 'restart_agent', {});
    const collect = signed(server, agent.agentId, 'collect', {});
    const unknownScript = signed(server, agent.agentId, 'run_script', { sha256: sha256('#!/bin/sh\nrm -rf /\n'), args: [] });
    const argsForNone = signed(server, agent.agentId, 'run_script', { sha256: allowed.sha256, args: ['--force'] });
    const argOutsideList = signed(server, agent.agentId, 'run_script', { sha256: listArgs.sha256, args: ['--dry-run', '--delete'] });
    const prefixNotAtStart = signed(server, agent.agentId, 'run_script', { sha256: listArgs.sha256, args: ['x--days=1'] });
    const badParams = signed(server, agent.agentId, 'run_script', { sha256: listArgs.sha256 });
    server.deliver(agent.agentId, restart, collect, unknownScript, argsForNone, argOutsideList, prefixNotAtStart, badParams);
    expect(await refusedWith(restart.id)).toMatchObject({ reason: 'action_not_allowed' });
    expect(await refusedWith(collect.id)).toMatchObject({ reason: 'action_not_allowed' });
    expect(await refusedWith(unknownScript.id)).toMatchObject({ reason: 'script_not_allowed' });
    expect(await refusedWith(argsForNone.id)).toMatchObject({ reason: 'args_not_allowed' });
    expect(await refusedWith(argOutsideList.id)).toMatchObject({ reason: 'args_not_allowed' });
    expect(await refusedWith(prefixNotAtStart.id)).toMatchObject({ reason: 'args_not_allowed' });
    expect(await refusedWith(badParams.id)).toMatchObject({ reason: 'invalid_params' });
    expect(await runs(counter)).toBe(before);

    // The allowlist itself works: an exact entry and a prefix entry.
    const ok = signed(server, agent.agentId, 'run_script', { sha256: listArgs.sha256, args: ['--dry-run', '--days=7'] });
    server.deliver(agent.agentId, ok);
    expect(await finalResult(server, ok.id)).toMatchObject({ status: 'succeeded', output: 'ran --dry-run --days=7\n' });
    expect(await runs(counter)).toBe(before + 1);
  });

  it('a script whose file no longer has the hash the policy and the command name', async () => {
    const dir = await hostDir('flotilla-agent-swap-');
    const script = await counterScript(dir, 'swap.sh', counter);
    const policy = await writePolicy(dir, { actions: { run_script: { scripts: [{ path: script.path, sha256: script.sha256 }] } } });
    const swapAgent = startAgent(await enrolled(server, root), policy);
    try {
      await writeFile(script.path, `#!/bin/sh\necho run >> ${counter}\necho evil\n`, { mode: 0o755 });
      const before = await runs(counter);
      const cmd = signed(server, swapAgent.agentId, 'run_script', { sha256: script.sha256, args: [] });
      server.deliver(swapAgent.agentId, cmd);
      expect(await refusedWith(cmd.id)).toMatchObject({ reason: 'script_hash_mismatch' });
      expect(await runs(counter)).toBe(before);
    } finally {
      await swapAgent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a replayed command id, also after the agent restarts', async () => {
    const once = await enrolled(server, root);
    let running = startAgent(once, policyFile);
    const cmd = signed(server, once.agentId, 'run_script', { sha256: allowed.sha256, args: [] });
    const before = await runs(counter);
    server.deliver(once.agentId, cmd);
    await finalResult(server, cmd.id);
    expect(await runs(counter)).toBe(before + 1);

    const replays = () => running.log.lines.filter((l) => l.msg === 'refusing a command' && l.fields?.reason === 'replayed').length;
    server.deliver(once.agentId, cmd);
    await vi.waitFor(() => expect(replays()).toBe(1), { timeout: 10_000 });
    await running.stop();

    running = startAgent(once, policyFile);
    server.deliver(once.agentId, cmd);
    await vi.waitFor(() => expect(replays()).toBe(1), { timeout: 10_000 });
    await running.stop();
    expect(await runs(counter)).toBe(before + 1);
    // The first answer stands: a replay is not answered again.
    expect(server.resultsFor(cmd.id).map((r) => r.status)).toEqual(['started', 'succeeded']);
  });
});

describe('agent commands: execution limits', () => {
  it('a timed-out script loses its whole process group, forked children included', async () => {
    const dir = await hostDir('flotilla-agent-timeout-');
    const forks = await counterScript(dir, 'forks.sh', counter, 'sleep 300 &\nsleep 300');
    const stubborn = await counterScript(dir, 'stubborn.sh', counter, "trap '' TERM\nsleep 300 &\nsleep 300");
    const policy = await writePolicy(dir, {
      actions: { run_script: { timeoutSeconds: 1, scripts: [{ path: forks.path, sha256: forks.sha256 }, { path: stubborn.path, sha256: stubborn.sha256 }] } },
    });
    const groups: number[] = [];
    const timed = startAgent(await enrolled(server, root), policy, { killGraceMs: 500, onSpawn: (pgid) => groups.push(pgid) });
    try {
      for (const script of [forks, stubborn]) {
        const cmd = signed(server, timed.agentId, 'run_script', { sha256: script.sha256, args: [] });
        server.deliver(timed.agentId, cmd);
        const result = (await finalResult(server, cmd.id)) as FinalResult;
        expect(result.status).toBe('timed_out');
        expect(result.finishedAt - result.startedAt).toBeGreaterThanOrEqual(1_000);
        const pgid = groups.at(-1) as number;
        expect(processesInGroup(pgid)).toEqual([]);
      }
      expect(groups).toHaveLength(2);
    } finally {
      await timed.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the last 1 MiB of a larger output, with the full byte count and sha256', async () => {
    const dir = await hostDir('flotilla-agent-big-');
    const big = await counterScript(dir, 'big.sh', counter, 'seq 1 400000; echo done >&2');
    const policy = await writePolicy(dir, { actions: { run_script: { scripts: [{ path: big.path, sha256: big.sha256 }] } } });
    const bigAgent = startAgent(await enrolled(server, root), policy);
    try {
      const cmd = signed(server, bigAgent.agentId, 'run_script', { sha256: big.sha256, args: [] });
      server.deliver(bigAgent.agentId, cmd);
      const result = (await finalResult(server, cmd.id, 30_000)) as FinalResult;
      const expected = Buffer.from(`${Array.from({ length: 400_000 }, (_, i) => i + 1).join('\n')}\ndone\n`, 'utf8');
      expect(result.status).toBe('succeeded');
      expect(result.outputBytes).toBe(expected.length);
      expect(result.outputSha256).toBe(sha256(expected));
      expect(result.truncated).toBe(true);
      expect(Buffer.byteLength(result.output)).toBe(1024 * 1024);
      expect(result.output).toBe(expected.subarray(expected.length - 1024 * 1024).toString('utf8'));
    } finally {
      await bigAgent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('agent commands: signing key rotation and restart', () => {
  it('pins a new key from a rotate_signing_key signed by the old one, then accepts only the new key', async () => {
    const rot = await enrolled(server, root);
    const running = startAgent(rot, null);
    try {
      const next = commandSignerFromSeed(randomBytes(32));
      const forgedRotation = otherSigner.sign(payload(rot.agentId, 'rotate_signing_key', { publicKey: otherSigner.publicKeyRaw }));
      server.deliver(rot.agentId, forgedRotation);
      expect(await refusedWith(forgedRotation.id)).toMatchObject({ reason: 'bad_signature' });

      const rotate = signed(server, rot.agentId, 'rotate_signing_key', { publicKey: next.publicKeyRaw });
      server.deliver(rot.agentId, rotate);
      expect(await finalResult(server, rotate.id)).toMatchObject({ status: 'succeeded' });
      const identity = JSON.parse(await readFile(join(rot.stateDir, IDENTITY_FILE), 'utf8')) as { commandPublicKey: string };
      expect(identity.commandPublicKey).toBe(next.publicKeyRaw);

      const oldKey = signed(server, rot.agentId, 'ping', {});
      const newKey = next.sign(payload(rot.agentId, 'ping', {}));
      server.deliver(rot.agentId, oldKey, newKey);
      expect(await refusedWith(oldKey.id)).toMatchObject({ reason: 'bad_signature' });
      expect(await finalResult(server, newKey.id)).toMatchObject({ status: 'succeeded', output: 'pong' });
    } finally {
      await running.stop();
    }
  });

  it('restart_agent answers, then the loop ends asking for a restart', async () => {
    const dir = await hostDir('flotilla-agent-restart-');
    const policy = await writePolicy(dir, { actions: { restart_agent: {} } });
    const r = await enrolled(server, root);
    const running = startAgent(r, policy);
    try {
      const cmd = signed(server, r.agentId, 'restart_agent', {});
      server.deliver(r.agentId, cmd);
      expect(await running.done).toBe('restart');
      expect(server.resultsFor(cmd.id).map((x) => x.status)).toEqual(['started', 'succeeded']);
    } finally {
      await running.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('retries a result after a server error, with a new seq', async () => {
    const r = await enrolled(server, root);
    const running = startAgent(r, null);
    try {
      server.resultScript.push({ status: 503, body: { error: { code: 'unavailable', message: 'x' } } }, { status: 503 });
      const cmd = signed(server, r.agentId, 'ping', {});
      server.deliver(r.agentId, cmd);
      expect(await finalResult(server, cmd.id)).toMatchObject({ status: 'succeeded' });
      const seqs = server.results.filter((x) => x.commandId === cmd.id).map((x) => x.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(server.requests.filter((q) => q.path.includes(cmd.id)).length).toBe(4);
    } finally {
      await running.stop();
    }
  });
});

function processesInGroup(pgid: number): string[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=', '-g', String(pgid)], { encoding: 'utf8' });
  } catch {
    out = ''; // ps exits 1 when nothing matches
  }
  // A zombie (stat Z) is dead and runs nothing; reaping orphans is PID 1's job, which a container's may do late.
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/\sZ/.test(l));
}
