import { createSecretKey } from 'node:crypto';
import type { Kysely } from 'kysely';
import { exclusiveTransaction } from '../../store/sql/exclusive.js';
import type { SqlStore } from '../../store/sql/db.js';
import type { Database } from '../../store/sql/tables.js';
import { columnsHash, GENESIS_HASH, hashedColumns, rowOf, type AuditEntry, type AuditRow, type UnhashedEntry } from './entry.js';

/** Arbitrary but fixed: the PostgreSQL advisory-lock id of the audit chain (distinct from Kysely's migration lock). */
const AUDIT_LOCK_ID = 7_419_302_611;

export interface ChainHead {
  seq: number;
  hash: string;
}

export type PendingEntry = Omit<UnhashedEntry, 'seq' | 'prevHash'>;

/** Runs `work` as the only writer of the chain, in one transaction, on every node (store/sql/exclusive.ts). */
export function withChainLock<T>(store: SqlStore, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return exclusiveTransaction(store, AUDIT_LOCK_ID, work);
}

/** The last entry, else the retention anchor (the table may be empty after a cut), else genesis. */
export async function chainHead(db: Kysely<Database>): Promise<ChainHead> {
  const last = await db.selectFrom('auditLog').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  if (last) return { seq: Number(last.seq), hash: last.hash };
  const anchor = await db.selectFrom('auditAnchors').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return anchor ? { seq: Number(anchor.seq), hash: anchor.hash } : { seq: 0, hash: GENESIS_HASH };
}

/** Links and inserts entries after the current head, under the chain lock. */
export async function appendEntries(store: SqlStore, key: Uint8Array, pending: readonly PendingEntry[], now: number): Promise<AuditEntry[]> {
  if (pending.length === 0) return [];
  const secret = createSecretKey(key);
  return withChainLock(store, async (db) => {
    let head = await chainHead(db);
    const entries: AuditEntry[] = [];
    const rows: AuditRow[] = [];
    for (const p of pending) {
      // Literals, not `{ ...p, seq }`: V8 builds spreads on a slow path.
      const entry: AuditEntry = {
        seq: head.seq + 1,
        ts: p.ts,
        actorType: p.actorType,
        actorId: p.actorId,
        actorIp: p.actorIp,
        action: p.action,
        resourceType: p.resourceType,
        resourceId: p.resourceId,
        before: p.before,
        after: p.after,
        success: p.success,
        error: p.error,
        prevHash: head.hash,
        hash: '',
      };
      const columns = hashedColumns(entry);
      entry.hash = columnsHash(secret, columns);
      entries.push(entry);
      rows.push(rowOf(columns, entry.hash, now));
      head = { seq: entry.seq, hash: entry.hash };
    }
    await db.insertInto('auditLog').values(rows).execute();
    return entries;
  });
}
