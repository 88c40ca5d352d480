import type { Kysely } from 'kysely';
import { scanKeyset } from '../../store/sql/keyset.js';
import type { Database } from '../../store/sql/tables.js';
import { isCanonicalText, spliceSafe, type HashedColumns } from './entry-text.js';

/** A stored entry with the types we write: what verification hashes. */
export type ChainRow = HashedColumns & { hash: string };

/** A stored entry as the driver returned it: nothing is trusted before wellTyped. */
export type RawChainRow = { [K in keyof ChainRow]: unknown };

const isText = (v: unknown): v is string => typeof v === 'string';
const isTextOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Whether every column holds the type we write (a success flag of 0 or 1); anything else was not written by us. */
export function wellTyped(r: RawChainRow): r is ChainRow {
  return (
    isNumber(r.seq) && isNumber(r.ts) && isText(r.actorType) && isTextOrNull(r.actorId) && isTextOrNull(r.actorIp) && isText(r.action) &&
    isTextOrNull(r.resourceType) && isTextOrNull(r.resourceId) && isTextOrNull(r.before) && isTextOrNull(r.after) &&
    (r.success === 0 || r.success === 1) && isTextOrNull(r.error) && isText(r.prevHash) && isText(r.hash)
  );
}

export const canonicalTexts = (row: ChainRow): boolean => isCanonicalText(row.before) && isCanonicalText(row.after);

/**
 * Whether a row can be hashed as it is stored: the types we write, and
 * before/after that the hash binds byte for byte (see spliceSafe) or that
 * pass the full canonical check.
 */
export function readable(row: RawChainRow): row is ChainRow {
  return wellTyped(row) && (spliceSafe(row.before, row.after) || canonicalTexts(row));
}

const COLUMNS = ['seq', 'ts', 'actorType', 'actorId', 'actorIp', 'action', 'resourceType', 'resourceId', 'before', 'after', 'success', 'error', 'prevHash', 'hash'] as const;

// The same columns in the same order, for SQLite's raw rows.
const SQLITE_PAGE =
  'select seq, ts, actor_type, actor_id, actor_ip, action, resource_type, resource_id, before, after, success, error, prev_hash, hash ' +
  'from audit_log where seq > ? order by seq limit ?';

// A literal per row is far cheaper than the object better-sqlite3 builds itself.
const fromSqlite = (v: unknown[]): RawChainRow => ({
  seq: v[0], ts: v[1], actorType: v[2], actorId: v[3], actorIp: v[4], action: v[5], resourceType: v[6],
  resourceId: v[7], before: v[8], after: v[9], success: v[10], error: v[11], prevHash: v[12], hash: v[13],
});

/**
 * The chain oldest first in keyset batches of the columns verification
 * reads. SQLite reads raw arrays through its handle, holding the Kysely
 * connection so no other caller's transaction is open on it meanwhile; any
 * other database reads through Kysely.
 */
export function chainRows(db: Kysely<Database>, batchSize: number): AsyncGenerator<RawChainRow[]> {
  return scanKeyset<RawChainRow>(db, {
    batchSize,
    keyOf: (row) => row.seq,
    query: (reader, after) => reader.selectFrom('auditLog').select(COLUMNS).where('seq', '>', after).orderBy('seq', 'asc').limit(batchSize).execute(),
    sqlite: { text: SQLITE_PAGE, fromArray: fromSqlite },
  });
}
