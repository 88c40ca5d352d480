import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, Secrets } from '../config/schema.js';
import { isClusterMode, resolveSecrets } from '../config/secrets.js';
import { createIdentity, type Identity } from '../identity/module.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { createKv } from '../store/kv/create.js';
import type { Kv } from '../store/kv/kv.js';
import { createDb, type SqlStore } from '../store/sql/db.js';
import { migrateToLatest } from '../store/sql/migrate.js';

/** Everything a running node holds: storage, shared state and the domains built on them. */
export interface Services {
  config: Config;
  secrets: Secrets;
  clock: Clock;
  log: Logger;
  sql: SqlStore;
  kv: Kv;
  identity: Identity;
  close(): Promise<void>;
}

export function sqliteFileOf(config: Config): string {
  return join(config.dataDir, 'flotilla.db');
}

/** Runs pending migrations, with the owner role when one is configured (DESIGN.md §9). */
export async function runMigrations(config: Config): Promise<string[]> {
  const url = config.database.migrationUrl ?? config.database.url;
  const store = await createDb(url ? { url } : { sqliteFile: sqliteFileOf(config) });
  try {
    return await migrateToLatest(store);
  } finally {
    await store.close();
  }
}

export async function openServices(config: Config, opts: { log: Logger; clock?: Clock }): Promise<Services> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const secrets = await resolveSecrets(config, { clusterMode: isClusterMode(config) });
  const applied = await runMigrations(config);
  if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied');
  const sql = await createDb(
    config.database.url
      ? { url: config.database.url, onPoolError: (err) => log.warn({ err }, 'database connection error') }
      : { sqliteFile: sqliteFileOf(config) },
  );
  let kv: Kv;
  try {
    kv = await createKv({ url: config.redis.url, prefix: config.redis.prefix, clock, onError: (err) => log.warn({ err: { message: err.message } }, 'redis error') });
  } catch (err) {
    await sql.close();
    throw err;
  }
  const identity = await createIdentity({ db: sql.db, kv, clock, config, secrets });
  return {
    config,
    secrets,
    clock,
    log,
    sql,
    kv,
    identity,
    async close() {
      await kv.close();
      await sql.close();
    },
  };
}
