import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { enrollAgent } from '../../src/agent/enroll.js';
import { FileIdentityStore } from '../../src/agent/identity.js';
import { runAgent, type AgentExit, type RunOptions } from '../../src/agent/run.js';
import { SyntheticMachine } from '../../src/agent/synthetic.js';
import { systemClock } from '../../src/lib/clock.js';
import { newId } from '../../src/lib/ids.js';
import type { CommandResult } from '../../src/protocol/command-result.js';
import { commandSignerFromSeed, newCommandNonce, type CommandPayload, type CommandSigner, type SignedCommand } from '../../src/protocol/signing.js';
import type { FakeAgentServer } from './fake-server.js';
import { recordingLog } from './recording-log.js';

export const sha256 = (content: string | Buffer): string => createHash('sha256').update(content).digest('hex');

/** A host directory as root would lay it out: 0700 dir, root-owned (the tests run as root). */
export async function hostDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** Writes an executable script; every run appends one line to `counter`, so runs can be counted. */
export async function counterScript(dir: string, name: string, counter: string, body = 'echo "ran $*"'): Promise<{ path: string; sha256: string }> {
  const path = join(dir, name);
  const text = `#!/bin/sh\necho run >> ${counter}\n${body}\n`;
  await writeFile(path, text, { mode: 0o755 });
  await chmod(path, 0o755);
  return { path, sha256: sha256(text) };
}

export async function runs(counter: string): Promise<number> {
  const text = await readFile(counter, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l === 'run').length;
}

export async function writePolicy(dir: string, policy: unknown): Promise<string> {
  const file = join(dir, 'agent-policy.json');
  await writeFile(file, JSON.stringify(policy), { mode: 0o644 });
  await chmod(file, 0o644);
  return file;
}

export interface RunningAgent {
  agentId: string;
  stateDir: string;
  log: ReturnType<typeof recordingLog>;
  /** Resolves with how the agent ended. */
  done: Promise<AgentExit>;
  stop(): Promise<AgentExit>;
}

export async function enrolled(server: FakeAgentServer, root: string): Promise<{ agentId: string; stateDir: string }> {
  const stateDir = join(root, `agent-${randomBytes(4).toString('hex')}`);
  server.intervalSeconds = 1;
  const trust = { kind: 'pin' as const, fingerprint: server.cert.fingerprint };
  const state = await enrollAgent({ serverUrl: server.url, token: server.token, trust, facts: {}, store: new FileIdentityStore(stateDir), clock: systemClock });
  return { agentId: state.identity.agentId, stateDir };
}

export function startAgent(agent: { agentId: string; stateDir: string }, policyFile: string | null, extra: Partial<RunOptions> = {}): RunningAgent {
  const controller = new AbortController();
  const log = recordingLog();
  const machine = new SyntheticMachine(0, 1, Date.now());
  const done = runAgent({
    stateDir: agent.stateDir,
    signal: controller.signal,
    log,
    collect: async () => machine.next(Date.now(), 1),
    backoff: { baseMs: 20, capMs: 200 },
    policy: policyFile ? { file: policyFile, explicit: true } : { file: join(agent.stateDir, 'no-such-policy.json'), explicit: false },
    ...extra,
  });
  return {
    ...agent,
    log,
    done,
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}

export function payload(agentId: string, action: string, params: Record<string, unknown>, over: Partial<CommandPayload> = {}): CommandPayload {
  const now = Date.now();
  return { id: newId(), agentId, action, params, nonce: newCommandNonce(), issuedAt: now, expiresAt: now + 600_000, ...over };
}

export const otherSigner: CommandSigner = commandSignerFromSeed(randomBytes(32));

export function signed(server: FakeAgentServer, agentId: string, action: string, params: Record<string, unknown>, over: Partial<CommandPayload> = {}): SignedCommand {
  return server.signer.sign(payload(agentId, action, params, over));
}

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'refused']);

/** Waits for the command's final result at the fake server. */
export async function finalResult(server: FakeAgentServer, commandId: string, timeout = 15_000): Promise<CommandResult> {
  let found: CommandResult | undefined;
  await vi.waitFor(
    () => {
      found = server.resultsFor(commandId).find((r) => FINAL.has(r.status));
      if (!found) throw new Error(`no final result for ${commandId} yet`);
    },
    { timeout, interval: 50 },
  );
  return found as CommandResult;
}
