import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../store/sql/tables.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { chainHead } from './chain.js';
import type { AuditKeys } from './keys.js';

/**
 * `checkpoint`: the chain head at a moment. `anchor`: the last entry retention
 * removed. `head`: the newest appended entry, advanced with every append (head.ts).
 */
export type CheckpointKind = 'checkpoint' | 'anchor' | 'head';

export interface SignedMark {
  kind: CheckpointKind;
  seq: number;
  hash: string;
  ts: number;
  /** Ed25519 (base64url) over canonical {kind, seq, hash, ts}. */
  sig: string;
}

export function signMark(keys: AuditKeys, mark: Omit<SignedMark, 'sig'>): SignedMark {
  const body = { kind: mark.kind, seq: mark.seq, hash: mark.hash, ts: mark.ts };
  return { ...body, sig: keys.sign(canonicalJson(body)) };
}

export function markValid(keys: AuditKeys, value: unknown): value is SignedMark {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  if ((m.kind !== 'checkpoint' && m.kind !== 'anchor' && m.kind !== 'head') || !Number.isSafeInteger(m.seq) || typeof m.hash !== 'string' || !Number.isSafeInteger(m.ts) || typeof m.sig !== 'string') return false;
  return keys.verify(canonicalJson({ kind: m.kind, seq: m.seq, hash: m.hash, ts: m.ts }), m.sig);
}

export interface CheckpointSet {
  /** seq -> hash of every valid checkpoint. */
  bySeq: Map<number, string>;
  maxSeq: number;
  /** Line number of the first line that is not a validly signed mark, or null. */
  invalidLine: number | null;
}

/**
 * Signed marks in a JSON-lines file outside the database (0600): whoever can
 * rewrite the table cannot also rewrite these without the signing key, so a
 * cut tail or a recomputed table shows against them.
 */
export class CheckpointFile {
  private lastWritten: number | null = null;

  constructor(
    readonly path: string,
    private readonly keys: AuditKeys,
  ) {}

  async append(mark: Omit<SignedMark, 'sig'>): Promise<SignedMark> {
    const signed = signMark(this.keys, mark);
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await appendFile(this.path, `${JSON.stringify(signed)}\n`, { mode: 0o600 });
    // appendFile's mode applies only on creation; keep it 0600 if someone loosened it.
    if (((await stat(this.path)).mode & 0o077) !== 0) await chmod(this.path, 0o600);
    return signed;
  }

  /** Checkpoints the current head unless it was already checkpointed by this process. */
  async checkpoint(db: Kysely<Database>, clock: Clock): Promise<SignedMark | null> {
    const head = await chainHead(db);
    if (head.seq === 0 || head.seq === this.lastWritten) return null;
    const mark = await this.append({ kind: 'checkpoint', seq: head.seq, hash: head.hash, ts: clock.nowMs() });
    this.lastWritten = head.seq;
    return mark;
  }

  /** Reads the file line by line; a missing file is an empty set. */
  async load(): Promise<CheckpointSet> {
    const set: CheckpointSet = { bySeq: new Map(), maxSeq: 0, invalidLine: null };
    try {
      await stat(this.path);
    } catch {
      return set;
    }
    const lines = createInterface({ input: createReadStream(this.path, 'utf8'), crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = null;
      }
      if (!markValid(this.keys, parsed)) {
        set.invalidLine ??= n;
        continue;
      }
      if (parsed.kind !== 'checkpoint') continue;
      set.bySeq.set(parsed.seq, parsed.hash);
      set.maxSeq = Math.max(set.maxSeq, parsed.seq);
    }
    return set;
  }
}
