import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, Secrets } from '../config/schema.js';
import { isClusterMode, resolveSecrets } from '../config/secrets.js';
import { createFleet, type Fleet } from '../fleet/module.js';
import { createIdentity, type Identity } from '../identity/module.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { createPerimeter, type Perimeter } from '../perimeter/module.js';
import { createSecurity, type Security } from '../security/module.js';
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
  /** Perimeter controls (DESIGN.md §8): one per node, shared by every listener. */
  perimeter: Perimeter;
  identity: Identity;
  fleet: Fleet;
  /** Audit chain, security log, metrics, detection (DESIGN.md §8); `security.recorder` is the AuditSink for other domains. */
  security: Security;
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
      : { sqliteFile: sqliteFileOf(config), checkpointIntervalMs: 1000, onCheckpointError: (err) => log.warn({ err: { message: err.message } }, 'database checkpoint failed') },
  );
  let kv: Kv;
  try {
    kv = await createKv({ url: config.redis.url, prefix: config.redis.prefix, clock, onError: (err) => log.warn({ err: { message: err.message } }, 'redis error') });
  } catch (err) {
    await sql.close();
    throw err;
  }
  let perimeter: Perimeter;
  try {
    perimeter = await createPerimeter({ config: config.perimeter, kv, clock });
  } catch (err) {
    await kv.close();
    await sql.close();
    throw err;
  }
  // Identity asks the perimeter for a slot before checking any credential (per-IP failed-login limit).
  const identity = await createIdentity({ db: sql.db, kv, clock, config, secrets, loginGuard: perimeter.loginThrottle.guard });
  const fleet = createFleet({ db: sql.db, kv, clock, config, secrets, log, streamAuthority: identity.sessions });
  // This node's own revocations end their streams at once; other nodes' are found by the streams' periodic check.
  identity.sessions.onRevoked(({ sessionIds, tokenIds }) => {
    if (sessionIds.length > 0) fleet.events.endSessions(sessionIds);
    if (tokenIds.length > 0) fleet.events.endTokens(tokenIds);
  });
  let security: Security;
  try {
    security = createSecurity({ sql, kv, clock, config, secrets, log, blocks: perimeter.blocks, egress: perimeter.egress });
  } catch (err) {
    await kv.close();
    await sql.close();
    throw err;
  }
  security.watchIdentity(identity.events, { revokeUserSessions: (userId, reason) => identity.sessions.revokeAllForUser(userId, reason) });
  perimeter.stats.subscribe((event) => security.onPerimeterEvent(event));
  security.metrics.setAgentsSource(async () => {
    const { online, warning, offline, decommissioned } = await fleet.machines.summary();
    return { online, warning, offline, decommissioned };
  });
  return {
    config,
    secrets,
    clock,
    log,
    sql,
    kv,
    perimeter,
    identity,
    fleet,
    security,
    async close() {
      await fleet.stop();
      // Before the database closes: pending audit entries are written, a last checkpoint taken.
      await security.close();
      await kv.close();
      await sql.close();
    },
  };
}
