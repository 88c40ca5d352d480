import type { Kysely } from 'kysely';
import type { Database } from '../../store/sql/tables.js';
import type { CheckpointSet } from './checkpoints.js';
import { markValid } from './checkpoints.js';
import { canonicalTexts, chainRows, readable, type RawChainRow } from './chain-rows.js';
import { GENESIS_HASH } from './entry.js';
import { hashedBatches } from './hashed-batches.js';
import type { StoredHead } from './head.js';
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
  /** The signed head or a signed checkpoint is beyond the last entry: the tail was cut. */
  | 'truncated'
  /** The checkpoint file holds a line that is not a validly signed mark. */
  | 'checkpoint_invalid'
  /** The entry at the signed head's seq has another hash: the newest entries were removed and re-chained. */
  | 'head_mismatch'
  /** The head store holds something that is not a validly signed head. */
  | 'head_invalid'
  /** The chain has entries but no signed head: it was removed, so the newest entries cannot be vouched for. */
  | 'head_missing';

const MESSAGES: Record<BreakReason, (seq: number) => string> = {
  hash_mismatch: (seq) => `entry ${seq} does not match its hash: it was altered`,
  link_broken: (seq) => `entry ${seq} does not link to the entry before it`,
  sequence_gap: (seq) => `entry ${seq} is missing or out of order`,
  missing_anchor: (seq) => `the chain starts at entry ${seq} with no signed retention anchor before it: earlier entries were removed`,
  unreadable: (seq) => `entry ${seq} holds a value the server never writes`,
  checkpoint_mismatch: (seq) => `entry ${seq} differs from a signed checkpoint: the log was rewritten`,
  truncated: (seq) => `entries after seq ${seq - 1} are missing`,
  checkpoint_invalid: () => 'the checkpoint file holds a line that is not a validly signed mark',
  head_mismatch: (seq) => `entry ${seq} differs from the signed head: entries up to seq ${seq} were removed or rewritten`,
  head_invalid: () => 'the signed head is not validly signed: it was altered',
  head_missing: () => 'the chain has entries but no signed head: it was removed, and the newest entries cannot be vouched for',
};

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
  /** Seq of the signed head (the newest entry appended, as far as it is known outside the database). */
  signedHeadSeq: number | null;
  broken: { seq: number; reason: BreakReason } | null;
  /** What the break means, for people; null when ok. */
  message: string | null;
}

export interface VerifyOptions {
  db: Kysely<Database>;
  keys: AuditKeys;
  checkpoints: CheckpointSet;
  /** The signed head; the chain must reach it, and the entry at its seq must have its hash. */
  head: StoredHead;
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
 * sequence, hash or link breaks, or that disagrees with a signed checkpoint
 * or the signed head. The chain must then reach the head and every checkpoint.
 */
export async function verifyChain(opts: VerifyOptions): Promise<VerifyResult> {
  const { db, keys, checkpoints } = opts;
  const signedHead = opts.head.state === 'valid' ? opts.head.mark : null;
  const result: VerifyResult = {
    ok: true,
    count: 0,
    firstSeq: null,
    lastSeq: null,
    head: null,
    checkpoints: checkpoints.bySeq.size,
    signedHeadSeq: signedHead?.seq ?? null,
    broken: null,
    message: null,
  };
  const fail = (seq: number, reason: BreakReason, detail?: string): VerifyResult => ({
    ...result,
    ok: false,
    broken: { seq, reason },
    message: detail ? `${MESSAGES[reason](seq)}: ${detail}` : MESSAGES[reason](seq),
  });
  if (checkpoints.invalidLine !== null) return fail(0, 'checkpoint_invalid');
  if (opts.head.state === 'invalid') return fail(0, 'head_invalid');

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
      if (seq === signedHead?.seq && row.hash !== signedHead.hash) return fail(seq, 'head_mismatch');
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
  const last = end ?? 0;
  // The database may run ahead of the head (a crash between commit and head write), never end before it.
  if (signedHead && signedHead.seq > last) return fail(last + 1, 'truncated', `the signed head is at seq ${signedHead.seq}`);
  if (checkpoints.maxSeq > last) return fail(last + 1, 'truncated', `a signed checkpoint is at seq ${checkpoints.maxSeq}`);
  if (signedHead && anchors.has(signedHead.seq) && anchors.get(signedHead.seq) !== signedHead.hash) return fail(signedHead.seq, 'head_mismatch');
  if (!signedHead && last > 0) return fail(0, 'head_missing');
  return result;
}
