import type { Kysely } from 'kysely';

/**
 * Remote commands: a request (action, params, targets, approvals) and one
 * signed command per target machine with its result. Frozen: never edit once
 * shipped; add a new migration. Kysely<any> and no app imports.
 *
 * Delivery reads an agent's queued commands by (agent_id, state), so that is
 * the commands table's index; the machine history reads by agent_id too.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('command_requests')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('script_sha256', 'text')
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('approvals_required', 'integer', (c) => c.notNull())
    .addColumn('ttl_seconds', 'integer', (c) => c.notNull())
    .addColumn('approval_expires_at', 'bigint', (c) => c.notNull())
    .addColumn('approved_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('command_requests_state_idx').on('command_requests').columns(['state', 'id']).execute();

  await db.schema
    .createTable('command_approvals')
    .addColumn('request_id', 'text', (c) => c.notNull().references('command_requests.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('command_approvals_pk', ['request_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('commands')
    .addColumn('id', 'text', (c) => c.primaryKey().notNull())
    .addColumn('request_id', 'text', (c) => c.notNull().references('command_requests.id').onDelete('cascade'))
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('signed', 'text')
    .addColumn('issued_at', 'bigint')
    .addColumn('expires_at', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('exit_code', 'integer')
    .addColumn('signal', 'text')
    .addColumn('output', 'text')
    .addColumn('output_bytes', 'bigint')
    .addColumn('output_sha256', 'text')
    .addColumn('truncated', 'integer')
    .addColumn('reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('commands_agent_state_idx').on('commands').columns(['agent_id', 'state']).execute();
  await db.schema.createIndex('commands_request_idx').on('commands').column('request_id').execute();
}
