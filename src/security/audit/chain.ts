import { sql, type Kysely } from 'kysely';
import type { SqlStore } from '../../store/sql/db.js';
import type { Database } from '../../store/sql/tables.js';
import { chainHash, GENESIS_HASH, toRow, type AuditEntry, type UnhashedEntry } from './entry.js';

/** Arbitrary but fixed: the PostgreSQL advisory-lock id of the audit chain (distinct from Kysely's migration lock). */
const AUDIT_LOCK_ID = 7_419_302_611;

export interface ChainHead {
  seq: number;
  hash: string;
}

export type PendingEntry = Omit<UnhashedEntry, 'seq' | 'prevHash'>;

/**
 * Runs `work` as the only writer of the chain, in one transaction. PostgreSQL:
 * a transaction-scoped advisory lock, so every node queues on it. SQLite: one
 * writer at a time anyway, but a plain (deferred) BEGIN would read the head
 * and then fail to upgrade when another process wrote meanwhile; BEGIN
 * IMMEDIATE takes the write lock before the head is read.
 */
export async function withChainLock<T>(store: SqlStore, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (store.dialect === 'postgres') {
    return store.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(AUDIT_LOCK_ID)})`.execute(trx);
      return work(trx);
    });
  }
  return store.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
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
  return withChainLock(store, async (db) => {
    let head = await chainHead(db);
    const entries: AuditEntry[] = [];
    for (const p of pending) {
      const unhashed: UnhashedEntry = { ...p, seq: head.seq + 1, prevHash: head.hash };
      const entry: AuditEntry = { ...unhashed, hash: chainHash(key, unhashed) };
      entries.push(entry);
      head = { seq: entry.seq, hash: entry.hash };
    }
    await db.insertInto('auditLog').values(entries.map((e) => toRow(e, now))).execute();
    return entries;
  });
}
