import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentState, FileIdentityStore, IdentityError, type AgentIdentity } from '../../src/agent/identity.js';
import { parsePin, TrustError } from '../../src/agent/trust.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-agent-id-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => join(root, `case-${++n}`, 'state');

const b64 = () => randomBytes(32).toString('base64url');
function sampleIdentity(): AgentIdentity {
  const agentId = '0190b2c4-7d1e-7000-8000-000000000001';
  return {
    format: 1,
    serverUrl: 'https://fleet.example.test:8768',
    agentId,
    apiKey: `fla_${agentId}_${b64()}`,
    kid: 1,
    sealingKey: b64(),
    commandPublicKey: b64(),
    trust: { kind: 'pin', fingerprint: `sha256:${'ab'.repeat(32)}` },
    intervalSeconds: 10,
    seq: 0,
    resultSeq: 0,
    enrolledAt: 1_767_225_600_000,
  };
}

describe('agent identity file', () => {
  it('is written 0600 in a 0700 directory', async () => {
    const store = new FileIdentityStore(freshDir());
    await AgentState.create(store, sampleIdentity());
    expect((await stat(store.file)).mode & 0o777).toBe(0o600);
    expect((await stat(store.stateDir)).mode & 0o777).toBe(0o700);
    // Still 0600 after an update rewrites it.
    const state = await AgentState.open(store);
    await state.reserveSeq();
    expect((await stat(store.file)).mode & 0o777).toBe(0o600);
  });

  it('persists seq before handing it out, so a restart never reuses one', async () => {
    const store = new FileIdentityStore(freshDir());
    const first = await AgentState.create(store, sampleIdentity());
    expect([await first.reserveSeq(), await first.reserveSeq(), await first.reserveSeq()]).toEqual([1, 2, 3]);
    // "Restart": a new state from the same file.
    const second = await AgentState.open(new FileIdentityStore(store.stateDir));
    expect(await second.reserveSeq()).toBe(4);
    expect(JSON.parse(await readFile(store.file, 'utf8')).seq).toBe(4);
    // The command-result counter is separate.
    expect(await second.reserveResultSeq()).toBe(1);
    expect(await second.reserveSeq()).toBe(5);
  });

  it('hands out distinct seqs to concurrent callers', async () => {
    const state = await AgentState.create(new FileIdentityStore(freshDir()), sampleIdentity());
    const seqs = await Promise.all(Array.from({ length: 20 }, () => state.reserveSeq()));
    expect(new Set(seqs).size).toBe(20);
    expect(Math.max(...seqs)).toBe(20);
  });

  it('stores a rotated key and interval across restarts', async () => {
    const store = new FileIdentityStore(freshDir());
    const state = await AgentState.create(store, sampleIdentity());
    const key = randomBytes(32);
    await state.applyRekey(2, key);
    await state.setInterval(30);
    const reopened = await AgentState.open(store);
    expect(reopened.identity.kid).toBe(2);
    expect(Buffer.from(reopened.sealingKey).equals(key)).toBe(true);
    expect(reopened.identity.intervalSeconds).toBe(30);
    await expect(state.applyRekey(3, randomBytes(16))).rejects.toThrow(IdentityError);
  });

  it('explains a missing, damaged or invalid file without quoting its secrets', async () => {
    const dir = freshDir();
    await expect(new FileIdentityStore(dir).read()).rejects.toThrow(/ENOENT.*flotilla agent enroll/);
    const store = new FileIdentityStore(dir);
    const identity = sampleIdentity();
    await AgentState.create(store, identity);
    const text = await readFile(store.file, 'utf8');
    await writeFile(store.file, text.slice(0, text.length - 10));
    const damaged = await store.read().catch((e: Error) => e);
    expect(damaged).toBeInstanceOf(IdentityError);
    expect(String(damaged)).not.toContain(identity.apiKey.slice(-20));
    await writeFile(store.file, JSON.stringify({ ...identity, kid: 0 }));
    const invalid = await store.read().catch((e: Error) => e);
    expect(String(invalid)).toMatch(/invalid at \/kid/);
    expect(String(invalid)).not.toContain(identity.sealingKey);
  });
});

describe('pins', () => {
  it('normalizes the spellings people paste and refuses anything else', () => {
    const hex = 'ab'.repeat(32);
    expect(parsePin(`sha256:${hex}`)).toBe(`sha256:${hex}`);
    expect(parsePin(`SHA256:${hex.toUpperCase()}`)).toBe(`sha256:${hex}`);
    expect(parsePin(hex.match(/../g)?.join(':') ?? '')).toBe(`sha256:${hex}`);
    for (const bad of ['', 'sha256:', `sha1:${hex}`, `sha256:${hex.slice(2)}`, `sha256:${'zz'.repeat(32)}`]) expect(() => parsePin(bad)).toThrow(TrustError);
  });
});
