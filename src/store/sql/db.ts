import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CamelCasePlugin, Kysely, PostgresDialect, SqliteDialect, sql, type LogConfig } from 'kysely';
import pg from 'pg';
import { LruCache } from '../../lib/lru.js';
import { WalCheckpointer } from './checkpointer.js';
import { WalSync } from './wal-sync.js';
import type { DialectName } from './dialect.js';
import type { Database } from './tables.js';

export interface SqlStore {
  db: Kysely<Database>;
  dialect: DialectName;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** PostgreSQL URL; when absent, SQLite at sqliteFile. */
  url?: string;
  sqliteFile?: string;
  /** Kysely's query log. Parameters can hold secrets: log them only when debugging. */
  log?: LogConfig;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** Errors of idle pooled connections (the pool replaces them); for the log. */
  onPoolError?: (err: Error) => void;
  /**
   * SQLite file: checkpoint the WAL from a worker thread every this many ms
   * instead of on the connection's own commits (a long-running server).
   */
  checkpointIntervalMs?: number;
  /** Failed background checkpoints; for the log. */
  onCheckpointError?: (err: Error) => void;
}

/** snake_case columns <-> camelCase rows; keys inside JSON values are left as written. */
const camelCase = () => new CamelCasePlugin({ maintainNestedObjectKeys: true });

const sqliteHandles = new WeakMap<Kysely<Database>, SqliteDatabase.Database>();

/**
 * The better-sqlite3 handle behind a SQLite store's Kysely instance, for a hot
 * read path that cannot afford an object per row (raw arrays are ~2x faster).
 * Hold the Kysely connection (`db.connection()`) while using it, so no
 * transaction of another caller is open on it. Undefined for PostgreSQL and
 * for transaction- or connection-bound instances.
 */
export function sqliteHandle(db: Kysely<Database>): SqliteDatabase.Database | undefined {
  return sqliteHandles.get(db);
}

const walSyncs = new WeakMap<Kysely<Database>, WalSync>();

/**
 * What a caller awaits after a commit before it answers "stored": on a SQLite
 * file, the fdatasync of its WAL (wal-sync.ts); PostgreSQL commits are already
 * durable when they return.
 */
/** How many write transactions are worth running at once: SQLite has a single writer; a PostgreSQL pool takes several. */
export function parallelWriters(db: Kysely<Database>): number {
  return sqliteHandles.has(db) ? 1 : 4;
}

export function commitsDurable(db: Kysely<Database>): () => Promise<void> {
  const walSync = walSyncs.get(db);
  return walSync ? () => walSync.flush() : () => Promise.resolve();
}

/** Distinct statement texts kept prepared; the application issues a few hundred. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite driver prepares every query anew, which costs more than
 * running it on the hot paths (report ingest, auth). This hands Kysely the
 * same handle with a bounded LRU of prepared statements. Safe because Kysely
 * runs one query at a time on its single SQLite connection.
 */
function withStatementCache(database: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new LruCache<string, SqliteDatabase.Statement>(STATEMENT_CACHE_SIZE);
  const prepare = (source: string): SqliteDatabase.Statement => cache.getOrSet(source, () => database.prepare(source));
  return new Proxy(database, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Opens the database of the deployment mode and checks it answers. */
export async function createDb(opts: CreateDbOptions): Promise<SqlStore> {
  if (opts.url) return openPostgres(opts.url, opts);
  if (opts.sqliteFile) return openSqlite(opts.sqliteFile, opts);
  throw new Error('createDb needs a PostgreSQL url or a SQLite file');
}

/** 4 KiB pages: about 40 MiB of WAL. */
const BACKUP_AUTOCHECKPOINT_PAGES = 10_000;

function openSqlite(file: string, opts: CreateDbOptions): SqlStore {
  const inMemory = file === ':memory:';
  const isNew = !inMemory && !existsSync(file);
  if (!inMemory) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const database = new SqliteDatabase(file);
  // The file holds password hashes and sessions; SQLite gives -wal/-shm the same mode.
  if (isNew) chmodSync(file, 0o600);
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  // Wait for a concurrent writer (e.g. a CLI command) instead of failing with SQLITE_BUSY.
  database.pragma('busy_timeout = 5000');
  // With WAL, NORMAL is durable against application crashes and much faster than FULL; an answer
  // that must also survive a power loss awaits commitsDurable (an fdatasync off the event loop).
  database.pragma('synchronous = NORMAL');
  // Page cache of 64 MiB (default 2 MiB): each machine's reports go to their own leaf of the metrics
  // index, and a fleet's worth of leaves must stay in memory or every insert reads one back in.
  database.pragma('cache_size = -65536');
  const checkpointer = !inMemory && opts.checkpointIntervalMs ? new WalCheckpointer(file, { intervalMs: opts.checkpointIntervalMs, onError: opts.onCheckpointError }) : null;
  // The connection still checkpoints by itself should the WAL pass ~40 MiB (the thread fell behind).
  if (checkpointer) database.pragma(`wal_autocheckpoint = ${BACKUP_AUTOCHECKPOINT_PAGES}`);
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(database) }),
    plugins: [camelCase()],
    ...(opts.log ? { log: opts.log } : {}),
  });
  sqliteHandles.set(db, database);
  const walSync = inMemory ? null : new WalSync(file);
  if (walSync) walSyncs.set(db, walSync);
  return {
    db,
    dialect: 'sqlite',
    async close() {
      await walSync?.close();
      // The thread's connection goes first, so the server's, closing last, folds the WAL into the file.
      await checkpointer?.close();
      await db.destroy();
      // Kysely closes only a connection it has used; ours was opened before any query.
      if (database.open) database.close();
    },
  };
}

/** int8 as a JS number: our timestamps are milliseconds, far below 2^53. Refuse anything that is not exact. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError('int8 value exceeds the safe integer range');
  return n;
}

const INT8_OID = 20;

/** host:port/db for messages; never the URL, which may hold a password. */
function describe(url: URL): string {
  return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
}

async function openPostgres(url: string, opts: CreateDbOptions): Promise<SqlStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: URL errors carry the input, password included.
    throw new Error('database url is not a valid URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new Error('database url must start with postgres:// or postgresql://');
  const password = decodeURIComponent(parsed.password);
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    // Per pool rather than pg.types.setTypeParser, which would change every pg user in the process.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // Without a listener an idle connection dropped by the server would crash the process.
  pool.on('error', (err) => opts.onPoolError?.(err));
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [camelCase()],
    ...(opts.log ? { log: opts.log } : {}),
  });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    const reason = (err as Error).message;
    throw new Error(`cannot connect to PostgreSQL at ${describe(parsed)}: ${password ? reason.split(password).join('***') : reason}`, { cause: err });
  }
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
