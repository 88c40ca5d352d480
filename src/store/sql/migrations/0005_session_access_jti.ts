import type { Kysely } from 'kysely';

/**
 * The jti of the one access token a session may use now. Each refresh or
 * reissue replaces it, so a superseded access token dies at once, also after
 * the in-process KV forgot its revocations. Frozen: never edit once shipped.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('access_jti', 'text').execute();
}
