import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionsTable, RefreshTokensTable } from '../../store/sql/tables.js';

export type SessionRow = Selectable<SessionsTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;

export const sessionsRepo = {
  async insert(db: Kysely<Database>, row: SessionRow): Promise<void> {
    await db.insertInto('sessions').values(row).execute();
  },

  byId(db: Kysely<Database>, id: string): Promise<SessionRow | undefined> {
    return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /** The rows of these sessions (one query, for a batch of open event streams). */
  byIds(db: Kysely<Database>, ids: readonly string[]): Promise<SessionRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return db.selectFrom('sessions').selectAll().where('id', 'in', [...ids]).execute();
  },

  /** Live sessions of a user, newest first (bounded by the refresh-token life). */
  activeForUser(db: Kysely<Database>, userId: string, now: number): Promise<SessionRow[]> {
    return db
      .selectFrom('sessions')
      .selectAll()
      .where('userId', '=', userId)
      .where('revokedAt', 'is', null)
      .where('expiresAt', '>', now)
      .orderBy('createdAt', 'desc')
      .limit(500)
      .execute();
  },

  async touch(db: Kysely<Database>, id: string, now: number): Promise<void> {
    await db.updateTable('sessions').set({ lastSeenAt: now, updatedAt: now }).where('id', '=', id).execute();
  },

  /** Marks sessions revoked; returns the ids that were live. */
  async revoke(db: Kysely<Database>, where: { id?: string; userId?: string; exceptId?: string }, now: number, reason: string): Promise<SessionRow[]> {
    let query = db.selectFrom('sessions').selectAll().where('revokedAt', 'is', null);
    if (where.id !== undefined) query = query.where('id', '=', where.id);
    if (where.userId !== undefined) query = query.where('userId', '=', where.userId);
    if (where.exceptId !== undefined) query = query.where('id', '!=', where.exceptId);
    const rows = await query.execute();
    if (rows.length === 0) return [];
    await db
      .updateTable('sessions')
      .set({ revokedAt: now, revokedReason: reason, updatedAt: now })
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .where('revokedAt', 'is', null)
      .execute();
    return rows;
  },

  async insertRefresh(db: Kysely<Database>, row: RefreshTokenRow): Promise<void> {
    await db.insertInto('refreshTokens').values(row).execute();
  },

  refreshById(db: Kysely<Database>, id: string): Promise<RefreshTokenRow | undefined> {
    return db.selectFrom('refreshTokens').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /** Atomically claims an unused refresh token; false when it was already used (reuse). */
  async claimRefresh(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
    const result = await db.updateTable('refreshTokens').set({ usedAt: now, updatedAt: now }).where('id', '=', id).where('usedAt', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  },

  async setAmr(db: Kysely<Database>, id: string, amr: string, now: number): Promise<void> {
    await db.updateTable('sessions').set({ amr, updatedAt: now }).where('id', '=', id).execute();
  },

  async setAccessJti(db: Kysely<Database>, id: string, jti: string, now: number): Promise<void> {
    await db.updateTable('sessions').set({ accessJti: jti, updatedAt: now }).where('id', '=', id).execute();
  },

  async retireRefreshOfSession(db: Kysely<Database>, sessionId: string, now: number): Promise<void> {
    await db.updateTable('refreshTokens').set({ usedAt: now, updatedAt: now }).where('sessionId', '=', sessionId).where('usedAt', 'is', null).execute();
  },
};
