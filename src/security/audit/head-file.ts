import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import type { SignedMark } from './checkpoints.js';
import { parseHead, type HeadStore, type StoredHead } from './head.js';
import type { AuditKeys } from './keys.js';

/** The head file next to the checkpoint file: `audit-checkpoints.jsonl` -> `audit-checkpoints.head.json`. */
export function headPathOf(checkpointPath: string): string {
  return `${checkpointPath.replace(/\.jsonl$/, '')}.head.json`;
}

/**
 * The head in a file (0600) on the server's host, where a CLI command on the
 * same data dir reads it, replaced atomically and durably (writeFileAtomic).
 * Another process (a CLI command appending)
 * may replace it too; reading it first keeps a lagging writer from moving it
 * back, except in a race between that read and the rename, which leaves the
 * head behind the database: allowed (later entries extend it), and the next
 * append moves it on.
 */
export class FileHeadStore implements HeadStore {
  /** The text last read or written and what it held: the same text needs no second signature check. */
  #known: { text: string; head: StoredHead } | null = null;

  constructor(
    readonly location: string,
    private readonly keys: AuditKeys,
  ) {}

  async read(): Promise<StoredHead> {
    let text: string;
    try {
      text = await readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
      throw err;
    }
    if (this.#known?.text !== text) this.#known = { text, head: parseHead(this.keys, text) };
    return this.#known.head;
  }

  async advance(mark: SignedMark): Promise<boolean> {
    const current = await this.read();
    if (current.state === 'valid' && current.mark.seq >= mark.seq) return false;
    const text = `${JSON.stringify(mark)}\n`;
    const dir = dirname(this.location);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.location, text, 0o600);
    // Checked like any text read back: a mark is not trusted for being ours to write.
    this.#known = { text, head: parseHead(this.keys, text) };
    return true;
  }
}
