import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTtl } from '../../src/cli/enroll.js';
import { cleanEnv, runCli } from '../harness/cli.js';

describe('flotilla enroll create|list|revoke', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-enroll-cli-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args], { env: cleanEnv() });

  it('creates a token, prints it once with the enroll command, lists it without its secret, and revokes it', async () => {
    const created = await cli('enroll', 'create', '--ttl', '24h', '--uses', '50', '--note', 'office');
    expect(created.code, created.stderr).toBe(0);
    const token = /^token: (fle_\S+)$/m.exec(created.stdout)?.[1] ?? '';
    const id = /id=(\S+)/.exec(created.stdout)?.[1] ?? '';
    expect(token.startsWith(`fle_${id}_`)).toBe(true);
    expect(token.slice(`fle_${id}_`.length)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toContain(`flotilla agent enroll --server https://localhost:8768 --token ${token}`);

    const listed = await cli('enroll', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(rows).toEqual([expect.objectContaining({ id, maxUses: 50, uses: 0, note: 'office', state: 'active' })]);
    expect(listed.stdout).not.toContain(token.split('_').slice(2).join('_'));

    const revoked = await cli('enroll', 'revoke', id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await cli('enroll', 'list')).stdout).toContain('\trevoked\t');
  });

  it('refuses bad arguments with a one-line message', async () => {
    const bad = await cli('enroll', 'create', '--ttl', 'forever');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^flotilla: --ttl: /);
  });

  it('parses durations within the API limits', () => {
    expect(parseTtl('30m')).toBe(1800);
    expect(parseTtl('24h')).toBe(86400);
    expect(parseTtl('7d')).toBe(604800);
    for (const bad of ['59s', '366d', '1w', '', '10', '-1h']) expect(() => parseTtl(bad)).toThrow(/--ttl/);
  });
});
