import type { Kysely } from 'kysely';

/**
 * Fleet: enrollment tokens, agents, machines, tags and the metric series.
 * Frozen: never edit once shipped; add a new migration. Kysely<any> and no app
 * imports. Portable SQL only: text ids, bigint millisecond times, double
 * precision metrics, 0/1 integers. Table names carry no digit after an
 * underscore, which the camelCase mapping could not round-trip.
 *
 * Every ingest write is an INSERT or an UPDATE by primary key. The metric
 * tables are keyed (machine_id, ts|bucket) so a machine's history is one index
 * range; the extra index on created_at (raw) and bucket (rollups) serves the
 * background job, which finds new rows and prunes old ones by range.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('enrollment_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('note', 'text')
    .addColumn('max_uses', 'integer', (c) => c.notNull())
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('agents')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull())
    .addColumn('kid', 'integer', (c) => c.notNull())
    .addColumn('prev_kid', 'integer')
    .addColumn('prev_kid_until', 'bigint')
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_result_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('interval_seconds', 'integer', (c) => c.notNull())
    .addColumn('enrollment_token_id', 'text')
    .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('machines')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull().references('agents.id').onDelete('cascade'))
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('os', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('arch', 'text', (c) => c.notNull())
    .addColumn('serial', 'text')
    .addColumn('agent_version', 'text')
    .addColumn('facts', 'text', (c) => c.notNull())
    .addColumn('facts_hash', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint')
    .addColumn('last_collected_at', 'bigint')
    .addColumn('cpu', 'double precision')
    .addColumn('mem', 'double precision')
    .addColumn('swap', 'double precision')
    .addColumn('disk', 'double precision')
    .addColumn('net_rx', 'double precision')
    .addColumn('net_tx', 'double precision')
    .addColumn('load1', 'double precision')
    .addColumn('net_rx_total', 'double precision')
    .addColumn('net_tx_total', 'double precision')
    .addColumn('latest', 'text')
    .addColumn('decommissioned_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('machines_os_idx').on('machines').column('os').execute();

  await db.schema
    .createTable('machine_tags')
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('machine_tags_pk', ['machine_id', 'tag'])
    .execute();
  await db.schema.createIndex('machine_tags_tag_idx').on('machine_tags').column('tag').execute();

  // No foreign key on the series: a metric insert must not pay a lookup, and
  // rows of a deleted machine age out with retention.
  await db.schema
    .createTable('metrics_raw')
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('ts', 'bigint', (c) => c.notNull())
    .addColumn('cpu', 'double precision')
    .addColumn('mem', 'double precision')
    .addColumn('swap', 'double precision')
    .addColumn('disk', 'double precision')
    .addColumn('net_rx', 'double precision')
    .addColumn('net_tx', 'double precision')
    .addColumn('load1', 'double precision')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('metrics_raw_pk', ['machine_id', 'ts'])
    .execute();
  await db.schema.createIndex('metrics_raw_created_at_idx').on('metrics_raw').column('created_at').execute();

  for (const table of ['metrics_minute', 'metrics_hour']) {
    let create = db.schema
      .createTable(table)
      .addColumn('machine_id', 'text', (c) => c.notNull())
      .addColumn('bucket', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull());
    for (const metric of ['cpu', 'mem', 'swap', 'disk', 'net_rx', 'net_tx', 'load1']) {
      create = create.addColumn(`${metric}_avg`, 'double precision').addColumn(`${metric}_max`, 'double precision');
    }
    await create
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['machine_id', 'bucket'])
      .execute();
    await db.schema.createIndex(`${table}_bucket_idx`).on(table).column('bucket').execute();
  }

  // Progress marks of background jobs, so a restart resumes where it stopped.
  await db.schema
    .createTable('job_watermarks')
    .addColumn('name', 'text', (c) => c.primaryKey().notNull())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
