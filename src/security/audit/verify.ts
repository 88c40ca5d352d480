import type { Kysely } from 'kysely';
import type { Database } from '../../store/sql/tables.js';
import type { CheckpointSet } from './checkpoints.js';
import { markValid } from './checkpoints.js';
import { canonicalTexts, chainRows, readable, type RawChainRow } from './chain-rows.js';
import { GENESIS_HASH } from './entry.js';
import { hashedBatches } from './hashed-batches.js';
import type { AuditKeys } from './keys.js';

export const VERIFY_BATCH = 1000;

export type BreakReason =
  /** An entry's stored hash is not the HMAC of its contents. */
  | 'hash_mismatch'
  /** An entry's prevHash is not the previous entry's hash. */
  | 'link_broken'
  /** A seq is missing (deleted) or out of order. */
  | 'sequence_gap'
  /** The first entry is not seq 1 and no signed retention anchor precedes it. */
  | 'missing_anchor'
  /** A field holds what we never write (non-canonical JSON, a success flag other than 0/1). */
  | 'unreadable'
  /** A signed checkpoint names another hash for this seq: the table was rewritten. */
  | 'checkpoint_mismatch'
  /** A signed checkpoint is beyond the last entry: the tail was cut. */
  | 'truncated'
  /** The checkpoint file holds a line that is not a validly signed mark. */
  | 'checkpoint_invalid';

export interface VerifyResult {
  ok: boolean;
  /** Entries checked (up to the break). */
  count: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** Hash of the last good entry (or of the anchor when the table is empty). */
  head: string | null;
  /** Checkpoints the file held. */
  checkpoints: number;
  broken: { seq: number; reason: BreakReason } | null;
}

export interface VerifyOptions {
  db: Kysely<Database>;
  keys: AuditKeys;
  checkpoints: CheckpointSet;
  batchSize?: number;
  /** Called with each batch's size as it is checked (progress; tests watch memory with it). */
  onBatch?: (rows: number) => void;
}

/** Retention anchors whose signature holds, by seq. */
async function validAnchors(db: Kysely<Database>, keys: AuditKeys): Promise<Map<number, string>> {
  const rows = await db.selectFrom('auditAnchors').selectAll().execute();
  const out = new Map<number, string>();
  for (const r of rows) {
    const mark = { kind: 'anchor', seq: Number(r.seq), hash: r.hash, ts: Number(r.ts), sig: r.sig };
    if (markValid(keys, mark)) out.set(mark.seq, mark.hash);
  }
  return out;
}

/**
 * Walks the chain oldest first in keyset batches, holding the batch being
 * checked and the next one (being hashed), and stops at the first entry whose
 * sequence, hash or link breaks, or that disagrees with a signed checkpoint.
 */
export async function verifyChain(opts: VerifyOptions): Promise<VerifyResult> {
  const { db, keys, checkpoints } = opts;
  const result: VerifyResult = { ok: true, count: 0, firstSeq: null, lastSeq: null, head: null, checkpoints: checkpoints.bySeq.size, broken: null };
  const fail = (seq: number, reason: BreakReason): VerifyResult => ({ ...result, ok: false, broken: { seq, reason } });
  if (checkpoints.invalidLine !== null) return fail(0, 'checkpoint_invalid');

  const anchors = await validAnchors(db, keys);
  let expectedSeq: number | null = null;
  let prevHash = '';
  for await (const { rows, matching } of hashedBatches(chainRows(db, opts.batchSize ?? VERIFY_BATCH), keys.hmacKey)) {
    opts.onBatch?.(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as RawChainRow;
      const seq = Number(row.seq);
      if (expectedSeq === null) {
        const anchored = seq === 1 ? GENESIS_HASH : anchors.get(seq - 1);
        if (anchored === undefined) return fail(seq, 'missing_anchor');
        prevHash = anchored;
        result.firstSeq = seq;
      } else if (seq !== expectedSeq) {
        return fail(expectedSeq, 'sequence_gap');
      }
      if (!readable(row)) return fail(seq, 'unreadable');
      // before/after spliced unchecked: a mismatch with a non-canonical one names that text.
      if (i >= matching) return fail(seq, canonicalTexts(row) ? 'hash_mismatch' : 'unreadable');
      if (row.prevHash !== prevHash) return fail(seq, 'link_broken');
      const checkpointed = checkpoints.bySeq.get(seq);
      if (checkpointed !== undefined && checkpointed !== row.hash) return fail(seq, 'checkpoint_mismatch');
      prevHash = row.hash;
      expectedSeq = seq + 1;
      result.count++;
      result.lastSeq = seq;
      result.head = row.hash;
    }
  }
  let end = result.lastSeq;
  if (end === null && anchors.size > 0) {
    // Retention removed everything: the newest anchor is the head.
    end = Math.max(...anchors.keys());
    result.head = anchors.get(end) ?? null;
  }
  if (checkpoints.maxSeq > (end ?? 0)) return fail((end ?? 0) + 1, 'truncated');
  return result;
}
