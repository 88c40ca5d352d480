import type { Kysely, Selectable } from 'kysely';
import type { Database, UsersTable } from '../../store/sql/tables.js';

export type UserRow = Selectable<UsersTable>;

/** SQL for the users table; parameterized queries only. */
export const usersRepo = {
  byId(db: Kysely<Database>, id: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  },

  byName(db: Kysely<Database>, username: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  },

  async insert(db: Kysely<Database>, row: UserRow): Promise<void> {
    await db.insertInto('users').values(row).execute();
  },

  async update(db: Kysely<Database>, id: string, patch: Partial<Omit<UserRow, 'id' | 'createdAt'>>): Promise<void> {
    await db.updateTable('users').set(patch).where('id', '=', id).execute();
  },

  async remove(db: Kysely<Database>, id: string): Promise<void> {
    await db.deleteFrom('users').where('id', '=', id).execute();
  },

  /** Page of users ordered by username; `after` is the last username seen. */
  list(db: Kysely<Database>, opts: { limit: number; after: string | null }): Promise<UserRow[]> {
    let query = db.selectFrom('users').selectAll().orderBy('username').limit(opts.limit + 1);
    if (opts.after !== null) query = query.where('username', '>', opts.after);
    return query.execute();
  },

  async countActiveAdmins(db: Kysely<Database>): Promise<number> {
    const row = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('status', '=', 'active')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  async count(db: Kysely<Database>): Promise<number> {
    const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  },
};
