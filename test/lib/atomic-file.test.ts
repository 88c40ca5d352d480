import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/lib/atomic-file.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-atomic-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file with its final mode, whatever the umask', async () => {
    const previous = process.umask(0o000);
    try {
      await writeFileAtomic(join(dir, 'key.pem'), 'secret');
      await writeFileAtomic(join(dir, 'cert.pem'), 'public', 0o644);
    } finally {
      process.umask(previous);
    }
    expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'cert.pem')).mode & 0o777).toBe(0o644);
  });

  it('replaces an existing file and leaves no temporary file', async () => {
    writeFileSync(join(dir, 'state.json'), 'old');
    await writeFileAtomic(join(dir, 'state.json'), new TextEncoder().encode('new'));
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('keeps the old content and removes its temporary file when the rename fails', async () => {
    mkdirSync(join(dir, 'target'));
    writeFileSync(join(dir, 'target', 'inside'), 'kept');
    await expect(writeFileAtomic(join(dir, 'target'), 'x')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readFileSync(join(dir, 'target', 'inside'), 'utf8')).toBe('kept');
  });
});
