import { sql, type Kysely } from 'kysely';
import type { SqlStore } from './db.js';
import type { Database } from './tables.js';

/**
 * Runs `work` in one transaction as the only writer among everyone who asks
 * for the same `lockId`, on every node. PostgreSQL: a transaction-scoped
 * advisory lock, so the other writers queue on it and it is released with
 * the commit (which also works behind a transaction-pooling PgBouncer).
 * SQLite: there is one writer at a time anyway, but a plain (deferred) BEGIN
 * would read first and then fail to upgrade when another process wrote
 * meanwhile; BEGIN IMMEDIATE takes the write lock before anything is read.
 */
export async function exclusiveTransaction<T>(store: SqlStore, lockId: number, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (store.dialect === 'postgres') {
    return store.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(lockId)})`.execute(trx);
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
