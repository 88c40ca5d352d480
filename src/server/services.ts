import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, Secrets } from '../config/schema.js';
import { isClusterMode, resolveSecrets } from '../config/secrets.js';
import { createCommands, type Commands } from '../commands/module.js';
import { fleetKeys } from '../fleet/keys.js';
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
  /** Perimeter controls: one per node, shared by every listener. */
  perimeter: Perimeter;
  identity: Identity;
  fleet: Fleet;
  /** Remote commands: requests, approvals, signing, delivery and results. */
  commands: Commands;
  /** Audit chain, security log, metrics, detection; `security.recorder` is the AuditSink for other domains. */
  security: Security;
  close(): Promise<void>;
}

export function sqliteFileOf(config: Config): string {
  return join(config.dataDir, 'flotilla.db');
}

/** Runs pending migrations, with the owner role when one is configured. */
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
  // Each handle opened is closed again, newest first, if a later step fails.
  const opened: Array<() => Promise<void>> = [];
  const closeOpened = async () => {
    let failure: unknown = null;
    for (const close of opened.splice(0).reverse()) await close().catch((err: unknown) => (failure ??= err));
    if (failure !== null) throw failure;
  };
  try {
    const sql = await createDb(
      config.database.url
        ? { url: config.database.url, onPoolError: (err) => log.warn({ err }, 'database connection error') }
        : { sqliteFile: sqliteFileOf(config), checkpointIntervalMs: 1000, onCheckpointError: (err) => log.warn({ err: { message: err.message } }, 'database checkpoint failed') },
    );
    opened.push(() => sql.close());
    const kv = await createKv({ url: config.redis.url, prefix: config.redis.prefix, clock, onError: (err) => log.warn({ err: { message: err.message } }, 'redis error') });
    opened.push(() => kv.close());
    const perimeter = await createPerimeter({ config: config.perimeter, kv, clock });
    // Identity asks the perimeter for a slot before checking any credential (per-IP failed-login limit).
    const identity = await createIdentity({ db: sql.db, kv, clock, config, secrets, loginGuard: perimeter.loginThrottle.guard });
    const security = createSecurity({
      sql,
      kv,
      clock,
      config,
      secrets,
      log,
      blocks: perimeter.blocks,
      egress: perimeter.egress,
      perimeterEvents: perimeter.stats,
      identity: { events: identity.events, hooks: { revokeUserSessions: (userId, reason) => identity.sessions.revokeAllForUser(userId, reason) } },
      agentCounts: async () => {
        const { online, warning, offline, decommissioned } = await fleet.machines.summary();
        return { online, warning, offline, decommissioned };
      },
    });
    opened.push(() => security.close());
    const keys = fleetKeys(secrets);
    const commands = createCommands({ db: sql.db, kv, clock, config, signer: keys.commandSigner, sealingKey: keys.sealingKey, audit: security.recorder, log, onQueued: (ids) => void fleet.channels.nudge(ids) });
    const fleet = createFleet({
      db: sql.db,
      kv,
      clock,
      config,
      secrets,
      log,
      keys,
      streamAuthority: identity.sessions,
      onReportsAccepted: (count) => security.metrics.count('flotilla_reports_ingested_total', {}, count),
      pendingCommands: (id) => commands.delivery.pendingFor(id),
    });
    // This node's own revocations end their streams at once; other nodes' are found by the streams' periodic check.
    identity.sessions.onRevoked(({ sessionIds, tokenIds }) => {
      if (sessionIds.length > 0) fleet.events.endSessions(sessionIds);
      if (tokenIds.length > 0) fleet.events.endTokens(tokenIds);
    });
    opened.push(() => fleet.stop());
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
      commands,
      security,
      // Fleet jobs stop first; the audit writes what is pending and takes a last checkpoint before the database closes.
      close: closeOpened,
    };
  } catch (err) {
    await closeOpened().catch((closeErr: unknown) => log.warn({ err: closeErr }, 'closing after a failed start failed'));
    throw err;
  }
}
