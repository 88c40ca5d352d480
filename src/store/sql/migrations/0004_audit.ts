import type { Kysely } from 'kysely';

/**
 * The audit chain and the signed anchors retention leaves at
 * its cut. Frozen: never edit once shipped; add a new migration. Kysely<any>
 * and no app imports.
 *
 * `before` and `after` are canonical JSON *text* on both databases (never
 * jsonb), so they read back byte for byte and the HMAC over them holds.
 * `seq` is assigned by the appender under the chain lock, not by the database,
 * because it is part of what is hashed.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('seq', 'bigint', (c) => c.primaryKey().notNull())
    .addColumn('ts', 'bigint', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('actor_ip', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text')
    .addColumn('resource_id', 'text')
    .addColumn('before', 'text')
    .addColumn('after', 'text')
    .addColumn('success', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // Filters of the admin query, each a range scan that ends in seq order; ts also drives retention.
  await db.schema.createIndex('audit_log_ts_idx').on('audit_log').column('ts').execute();
  await db.schema.createIndex('audit_log_action_idx').on('audit_log').columns(['action', 'seq']).execute();
  await db.schema.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor_id', 'seq']).execute();
  await db.schema.createIndex('audit_log_resource_idx').on('audit_log').columns(['resource_type', 'resource_id', 'seq']).execute();

  await db.schema
    .createTable('audit_anchors')
    .addColumn('seq', 'bigint', (c) => c.primaryKey().notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('ts', 'bigint', (c) => c.notNull())
    /** Ed25519 signature (base64url) over the canonical {kind, seq, hash, ts}. */
    .addColumn('sig', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
