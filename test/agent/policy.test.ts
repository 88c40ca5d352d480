import { chmod, chown, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputTail } from '../../src/agent/output-tail.js';
import { argsAllowed, loadPolicy, PolicyError } from '../../src/agent/policy.js';
import { runAgent } from '../../src/agent/run.js';
import { counterScript, enrolled, hostDir, runs, sha256, writePolicy } from './command-fixture.js';
import { FakeAgentServer } from './fake-server.js';

let root: string;
let server: FakeAgentServer;
beforeAll(async () => {
  root = await hostDir('flotilla-agent-policy-');
  server = await FakeAgentServer.start();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const explicit = (file: string) => ({ file, explicit: true });

async function policyIn(name: string): Promise<{ dir: string; file: string; counter: string }> {
  const dir = join(root, name);
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const counter = join(root, `${name}.counter`);
  const script = await counterScript(dir, 'ok.sh', counter);
  const file = await writePolicy(dir, { actions: { ping: {}, run_script: { scripts: [{ path: script.path, sha256: script.sha256 }] } } });
  return { dir, file, counter };
}

describe('agent policy file: the agent refuses to start when others could change it', () => {
  it('accepts a root-owned 0644 file in a root-owned 0755 directory', async () => {
    const { file } = await policyIn('good');
    const policy = await loadPolicy(explicit(file));
    expect(Object.keys(policy.actions).sort()).toEqual(['ping', 'run_script']);
    expect(policy.runScript?.scripts[0]?.args).toBe('none');
  });

  const cases: Array<[string, (p: { dir: string; file: string }) => Promise<string>, RegExp]> = [
    ['the file is group-writable', async ({ file }) => (await chmod(file, 0o664), file), /writable by its group/],
    ['the file is writable by anyone', async ({ file }) => (await chmod(file, 0o646), file), /writable by anyone/],
    ['the directory is writable by others', async ({ dir, file }) => (await chmod(dir, 0o757), file), /directory .* writable by anyone/],
    ['the file is owned by a non-root uid', async ({ file }) => (await chown(file, 65534, 65534), file), /owned by uid 65534/],
    ['the directory is owned by a non-root uid', async ({ dir, file }) => (await chown(dir, 65534, 65534), file), /directory .* owned by uid 65534/],
    [
      'the file is a symlink',
      async ({ dir, file }) => {
        const link = join(dir, 'link.json');
        await symlink(file, link);
        return link;
      },
      /symlink/,
    ],
  ];
  for (const [what, spoil, message] of cases) {
    it(`refuses when ${what}, and runAgent does not start`, async () => {
      const p = await policyIn(what.replace(/\W+/g, '-'));
      const file = await spoil(p);
      await expect(loadPolicy(explicit(file))).rejects.toThrow(message);
      await expect(loadPolicy(explicit(file))).rejects.toBeInstanceOf(PolicyError);
      const agent = await enrolled(server, root);
      const before = server.reportRequests.length;
      await expect(runAgent({ stateDir: agent.stateDir, policy: explicit(file), signal: AbortSignal.timeout(5_000) })).rejects.toThrow(message);
      expect(server.reportRequests.length).toBe(before);
      expect(await runs(p.counter)).toBe(0);
    });
  }

  it('no policy file at the default path means only ping; a missing explicit one is an error', async () => {
    const missing = join(root, 'nowhere', 'agent-policy.json');
    const none = await loadPolicy({ file: missing, explicit: false });
    expect(none.source).toBeNull();
    expect(Object.keys(none.actions)).toEqual(['ping']);
    expect(none.runScript).toBeNull();
    await expect(loadPolicy(explicit(missing))).rejects.toThrow(/cannot read the agent policy/);
  });

  it('refuses invalid JSON, unknown keys and relative paths', async () => {
    const dir = join(root, 'invalid');
    await mkdir(dir, { mode: 0o755 });
    const file = join(dir, 'p.json');
    for (const [content, message] of [
      ['{', /not valid JSON/],
      [JSON.stringify({ actions: { kill_process: {} } }), /invalid/],
      [JSON.stringify({ actions: { ping: {} }, allowAll: true }), /invalid/],
      [JSON.stringify({ actions: { run_script: { scripts: [{ path: 'rel.sh', sha256: sha256('x') }] } } }), /invalid/],
      [JSON.stringify({ actions: { run_script: { scripts: [{ path: '/x.sh', sha256: 'ABC' }] } } }), /invalid/],
    ] as const) {
      await writeFile(file, content, { mode: 0o644 });
      await expect(loadPolicy(explicit(file))).rejects.toThrow(message);
    }
  });

  it('caps timeouts at maxTimeoutSeconds and defaults them to 300 s', async () => {
    const dir = join(root, 'timeouts');
    await mkdir(dir, { mode: 0o755 });
    const file = await writePolicy(dir, { maxTimeoutSeconds: 60, actions: { ping: {}, run_script: { timeoutSeconds: 900 } } });
    const policy = await loadPolicy(explicit(file));
    expect(policy.actions.run_script?.timeoutSeconds).toBe(60);
    expect(policy.actions.ping?.timeoutSeconds).toBe(60);
    const file2 = await writePolicy(dir, { actions: { ping: {} } });
    expect((await loadPolicy(explicit(file2))).actions.ping?.timeoutSeconds).toBe(300);
  });
});

describe('argument rules', () => {
  it('none, any, exact entries and prefix entries', () => {
    expect(argsAllowed('none', [])).toBe(true);
    expect(argsAllowed('none', ['x'])).toBe(false);
    expect(argsAllowed('any', ['--whatever', ''])).toBe(true);
    const rule = ['--dry-run', '--days=*'];
    expect(argsAllowed(rule, ['--dry-run', '--days=7'])).toBe(true);
    expect(argsAllowed(rule, ['--days='])).toBe(true);
    expect(argsAllowed(rule, ['--dry-run=yes'])).toBe(false);
    expect(argsAllowed(rule, ['-days=1'])).toBe(false);
    expect(argsAllowed(rule, ['--dry-run', '--delete'])).toBe(false);
  });
});

describe('output tail', () => {
  it('keeps exactly the last bytes, counts and hashes all of them, across any chunking', () => {
    const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
    for (const limit of [1, 7, 1000, 4096, 60_000]) {
      const tail = new OutputTail(limit);
      for (let at = 0, step = 1; at < data.length; at += step, step = (step * 7 + 3) % 5000 || 1) tail.write(data.subarray(at, at + step));
      const out = tail.finish();
      expect(out.totalBytes).toBe(data.length);
      expect(out.sha256).toBe(sha256(data));
      expect(out.tail.equals(data.subarray(Math.max(0, data.length - limit)))).toBe(true);
    }
  });
});
