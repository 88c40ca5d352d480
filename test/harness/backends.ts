/**
 * The real backends every store test loops over (STYLE.md §9):
 *
 *   for (const b of kvBackends()) describe.skipIf(!b.available)(`… ${b.name}`, () => { … });
 *
 * Each create() gives an isolated store: Redis under a random key prefix,
 * SQLite in a fresh temp file, PostgreSQL in a fresh database on the shared
 * server. Closing it removes what it made. A Kv backend also gives the
 * environment that puts a server under test on it (serverEnv).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { systemClock, type Clock } from '../../src/lib/clock.js';
import type { Kv } from '../../src/store/kv/kv.js';
import { MemoryKv } from '../../src/store/kv/memory.js';
import { RedisKv } from '../../src/store/kv/redis.js';
import { createDb, type SqlStore } from '../../src/store/sql/db.js';
import { migrateToLatest } from '../../src/store/sql/migrate.js';

export interface KvBackend {
  name: 'memory' | 'redis';
  available: boolean;
  /** Whether TTLs follow the clock given to create(); Redis keeps real time. */
  ttlFollowsClock: boolean;
  /** An isolated store for this process. */
  create(clock?: Clock): Promise<Kv>;
  /** What a server under test needs in its environment to use this backend (Redis: under a fresh key prefix). */
  serverEnv(): Record<string, string>;
}

export interface SqlBackend {
  name: 'sqlite' | 'postgres';
  available: boolean;
  /** A fresh, empty database; migrated unless `migrate: false`. */
  create(opts?: { migrate?: boolean }): Promise<SqlStore>;
}

const randomName = (): string => randomBytes(6).toString('hex');

/** Deletes every key under a prefix, so a shared Redis (REDIS_URL) is left as found. */
async function deleteByPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Every secret as an environment variable: cluster mode (a database or Redis URL) generates none. */
export function clusterSecretsEnv(): Record<string, string> {
  const names = ['JWT', 'E2EE', 'DB', 'AUDIT', 'COMMAND_SIGNING', 'CLUSTER', 'PEPPER'];
  return Object.fromEntries(names.map((name) => [`FLOTILLA_SECRETS_${name}`, randomBytes(32).toString('base64url')]));
}

/** A server on this Redis (the run's shared one by default) under a fresh key prefix, with the secrets cluster mode needs supplied. */
export function redisServerEnv(url: string = inject('redisUrl') ?? ''): Record<string, string> {
  return { REDIS_URL: url, FLOTILLA_REDIS_PREFIX: `test:${randomName()}:`, ...clusterSecretsEnv() };
}

export function kvBackends(): KvBackend[] {
  const redisUrl = inject('redisUrl');
  return [
    { name: 'memory', available: true, ttlFollowsClock: true, create: async (clock = systemClock) => new MemoryKv(clock), serverEnv: () => ({}) },
    {
      name: 'redis',
      available: redisUrl !== null,
      ttlFollowsClock: false,
      serverEnv: () => redisServerEnv(),
      create: async () => {
        if (redisUrl === null) throw new Error('no Redis for this run');
        const prefix = `test:${randomName()}:`;
        const kv = await RedisKv.connect({ url: redisUrl, prefix });
        const close = kv.close.bind(kv);
        kv.close = async () => {
          await deleteByPrefix(redisUrl, prefix);
          await close();
        };
        return kv;
      },
    },
  ];
}

/** One backend by name, for a suite that needs that one (the memory Kv beside a SQL loop, Redis for a cluster). */
export function kvBackend(name: KvBackend['name']): KvBackend {
  const backend = kvBackends().find((b) => b.name === name);
  if (!backend) throw new Error(`no ${name} Kv backend`);
  return backend;
}

function withCleanup(store: SqlStore, cleanup: () => Promise<void>): SqlStore {
  return {
    ...store,
    close: async () => {
      try {
        await store.close();
      } finally {
        await cleanup();
      }
    },
  };
}

async function createSqlite(): Promise<SqlStore> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-'));
  const store = await createDb({ sqliteFile: join(dir, 'flotilla.db') });
  return withCleanup(store, async () => rmSync(dir, { recursive: true, force: true }));
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database on the shared PostgreSQL server, for anything that
 * needs its own (a store, or a server process under test). drop() removes it.
 */
export async function createPostgresDatabase(serverUrl: string | null = inject('databaseUrl')): Promise<{ url: string; drop: () => Promise<void> }> {
  if (serverUrl === null) throw new Error('no PostgreSQL for this run');
  // Random name of [a-f0-9] only, so quoting it as an identifier is safe.
  const name = `flotilla_test_${randomName()}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

async function createPostgres(serverUrl: string): Promise<SqlStore> {
  const database = await createPostgresDatabase(serverUrl);
  let store: SqlStore;
  try {
    store = await createDb({ url: database.url });
  } catch (err) {
    await database.drop();
    throw err;
  }
  return withCleanup(store, database.drop);
}

async function migrated(store: SqlStore, migrate: boolean): Promise<SqlStore> {
  if (!migrate) return store;
  try {
    await migrateToLatest(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export function sqlBackends(): SqlBackend[] {
  const databaseUrl = inject('databaseUrl');
  return [
    { name: 'sqlite', available: true, create: async (opts) => migrated(await createSqlite(), opts?.migrate ?? true) },
    {
      name: 'postgres',
      available: databaseUrl !== null,
      create: async (opts) => {
        if (databaseUrl === null) throw new Error('no PostgreSQL for this run');
        return migrated(await createPostgres(databaseUrl), opts?.migrate ?? true);
      },
    },
  ];
}
