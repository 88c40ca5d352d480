import type { Clock } from '../../lib/clock.js';
import type { SqlStore } from '../../store/sql/db.js';
import { withChainLock } from './chain.js';
import { signMark, type CheckpointFile, type SignedMark } from './checkpoints.js';
import type { AuditKeys } from './keys.js';

const DAY_MS = 86_400_000;
const BATCH = 1000;

export interface RetentionResult {
  removed: number;
  anchor: SignedMark | null;
}

/**
 * Removes entries older than `retentionDays`, a prefix of the chain at a time
 * in bounded batches. Each batch first stores a signed anchor for its last
 * entry and then deletes up to it, in one transaction under the chain lock,
 * so at every commit the remaining chain starts right after a valid anchor.
 * Entries are cut in seq order only: one written late with an old ts stops
 * the cut rather than leaving a hole.
 */
export async function applyRetention(opts: { sql: SqlStore; keys: AuditKeys; clock: Clock; retentionDays: number; file?: CheckpointFile }): Promise<RetentionResult> {
  const cutoff = opts.clock.nowMs() - opts.retentionDays * DAY_MS;
  const result: RetentionResult = { removed: 0, anchor: null };
  for (;;) {
    const batch = await withChainLock(opts.sql, async (db) => {
      const rows = await db.selectFrom('auditLog').select(['seq', 'hash', 'ts']).orderBy('seq', 'asc').limit(BATCH).execute();
      const firstKept = rows.findIndex((r) => Number(r.ts) >= cutoff);
      const prefix = firstKept === -1 ? rows : rows.slice(0, firstKept);
      const top = prefix[prefix.length - 1];
      if (!top) return { removed: 0, full: false, anchor: null };
      const now = opts.clock.nowMs();
      const anchor = signMark(opts.keys, { kind: 'anchor', seq: Number(top.seq), hash: top.hash, ts: Number(top.ts) });
      await db.insertInto('auditAnchors').values({ seq: anchor.seq, hash: anchor.hash, ts: anchor.ts, sig: anchor.sig, createdAt: now, updatedAt: now }).execute();
      await db.deleteFrom('auditLog').where('seq', '<=', anchor.seq).execute();
      await db.deleteFrom('auditAnchors').where('seq', '<', anchor.seq).execute();
      return { removed: prefix.length, full: prefix.length === BATCH, anchor };
    });
    if (batch.anchor) {
      result.removed += batch.removed;
      result.anchor = batch.anchor;
      // A copy outside the database too; the database copy is the one verification needs.
      await opts.file?.append({ kind: 'anchor', seq: batch.anchor.seq, hash: batch.anchor.hash, ts: batch.anchor.ts });
    }
    if (!batch.full) return result;
  }
}
