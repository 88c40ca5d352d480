import type { Kysely } from 'kysely';
import { sqliteHandle } from './db.js';
import type { Database } from './tables.js';

/**
 * Keyset paging oldest first: `page(after)` returns up to `batchSize` rows
 * with a key greater than `after`, in key order, so millions of rows stream
 * in bounded memory: only the current batch is ever held.
 */
export async function* keysetBatches<T>(batchSize: number, page: (after: number) => Promise<T[]>, keyOf: (row: T) => unknown, afterKey = Number.MIN_SAFE_INTEGER): AsyncGenerator<T[]> {
  let after = afterKey;
  for (;;) {
    const rows = await page(after);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < batchSize) return;
    after = Number(keyOf(rows[rows.length - 1] as T));
  }
}

export interface KeysetScan<T> {
  batchSize: number;
  keyOf(row: T): unknown;
  /** The page as Kysely reads it: rows with keys greater than `after`, ascending, at most batchSize. */
  query(db: Kysely<Database>, after: number): Promise<T[]>;
  /**
   * The same page as one SQLite statement with parameters (after, limit), read
   * as raw arrays and mapped by `fromArray`: several times cheaper for scans of
   * millions of rows. Used only on SQLite.
   */
  sqlite?: { text: string; fromArray(values: unknown[]): T };
}

/**
 * Scans a table oldest first in keyset pages. On SQLite with a raw form, the
 * statement runs on the store's own handle while holding the Kysely
 * connection, so no other caller's transaction is open on it meanwhile.
 */
export function scanKeyset<T>(db: Kysely<Database>, scan: KeysetScan<T>): AsyncGenerator<T[]> {
  const handle = scan.sqlite ? sqliteHandle(db) : undefined;
  if (handle && scan.sqlite) {
    const { text, fromArray } = scan.sqlite;
    const stmt = handle.prepare<[number, number], unknown[]>(text).raw(true);
    return keysetBatches(scan.batchSize, (after) => db.connection().execute(async () => stmt.all(after, scan.batchSize).map(fromArray)), scan.keyOf);
  }
  return keysetBatches(scan.batchSize, (after) => scan.query(db, after), scan.keyOf);
}
