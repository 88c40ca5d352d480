import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { SqlStore } from './db.js';
import * as m0001 from './migrations/0001_init.js';
import * as m0002 from './migrations/0002_fleet.js';
import * as m0003 from './migrations/0003_mfa.js';
import * as m0004 from './migrations/0004_audit.js';
import * as m0005 from './migrations/0005_session_access_jti.js';
import * as m0006 from './migrations/0006_commands.js';

/** Every migration, by name, in order. Static so a bundle or a missing file cannot drop one. */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_init': m0001,
  '0002_fleet': m0002,
  '0003_mfa': m0003,
  '0004_audit': m0004,
  '0005_session_access_jti': m0005,
  '0006_commands': m0006,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...migrations }),
};

/**
 * Applies pending migrations; returns the names applied (empty when up to date).
 * Kysely's Migrator reports failure in its result rather than throwing, so we throw.
 * PostgreSQL runs each under an advisory lock, so nodes starting together are safe.
 */
export async function migrateToLatest(store: SqlStore, provider: MigrationProvider = migrationProvider): Promise<string[]> {
  // Without plugins: migrations name snake_case columns themselves.
  const migrator = new Migrator({ db: store.db.withoutPlugins(), provider });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `migration ${failed} failed: ${detail}` : `migrations failed: ${detail}`, { cause: error });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
