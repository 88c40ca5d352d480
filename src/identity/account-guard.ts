/**
 * Per-account brute-force defense: `maxAttempts` failures within
 * `lockoutSeconds` lock the account for `lockoutSeconds`; more than
 * `suspendAfter` failures within an hour suspend it until an admin reactivates
 * it. Failures are wrong passwords and wrong second-factor codes.
 *
 * Reserve, then verify: every attempt first takes a slot in the KV's atomic
 * sliding window and only then is the password checked, so 100 attempts sent
 * at once get exactly the slots 100 attempts in a row would. The window is
 * cleared by a success. Counters are keyed by a hash of the username as
 * given, known or not, so unknown users cost the same KV work.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import type { EventSink } from './events.js';
import type { SessionService } from './sessions/service.js';
import type { UserRow } from './users/repo.js';

const HOUR_MS = 3_600_000;
/** The hourly log only records; it never refuses (the attempt window does). */
const RECORD_ONLY = 1_000_000;

export interface AccountGuardDeps {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  events: EventSink;
  sessions: SessionService;
  maxAttempts: number;
  lockoutSeconds: number;
  suspendAfter: number;
}

export interface Reservation {
  /** False when the window is full: refuse without counting a failure. */
  allowed: boolean;
  /** Attempts in the window including this one. */
  count: number;
}

const accountKey = (username: string) => createHash('sha256').update(username, 'utf8').digest('base64url').slice(0, 32);
const attemptsKey = (username: string) => `acct:attempts:${accountKey(username)}`;
const failuresKey = (username: string) => `acct:failures:${accountKey(username)}`;

export class AccountGuard {
  constructor(private readonly deps: AccountGuardDeps) {}

  /** Takes this attempt's slot before anything is verified. */
  async reserve(username: string): Promise<Reservation> {
    const { kv, clock } = this.deps;
    const hit = await kv.hitWindow(attemptsKey(username), this.deps.lockoutSeconds * 1000, this.deps.maxAttempts, clock.nowMs());
    return { allowed: hit.allowed, count: hit.count };
  }

  /**
   * Records a verified failure: the attempt that fills the window locks the
   * account, and one too many in the hour suspends it.
   */
  async recordFailure(username: string, user: UserRow | undefined, reservation: Reservation, ip: string | null): Promise<void> {
    const { kv, clock } = this.deps;
    const now = clock.nowMs();
    const hourly = await kv.hitWindow(failuresKey(username), HOUR_MS, RECORD_ONLY, now);
    if (!user || user.status === 'suspended') return;
    if (hourly.count > this.deps.suspendAfter) {
      await this.suspend(user, ip, hourly.count);
    } else if (reservation.count >= this.deps.maxAttempts) {
      await this.lock(user, ip);
    }
  }

  /**
   * A refused reservation means the window is full: that many attempts
   * without a completed login. The account locks (if it is not already),
   * whether those attempts were wrong passwords, wrong codes, or right
   * passwords whose second factor never came.
   */
  async windowFull(user: UserRow, ip: string | null): Promise<void> {
    if (user.status === 'active' || user.status === 'locked') await this.lock(user, ip);
  }

  /** A completed login clears the attempt window (the hourly failure log stays). */
  async succeeded(username: string): Promise<void> {
    await this.deps.kv.del(attemptsKey(username));
  }

  /** Whether password logins are refused for now (locked and not yet expired). */
  async isLocked(user: UserRow): Promise<boolean> {
    if (user.status !== 'locked') return false;
    return (await this.lockedUntil(user.id)) > this.deps.clock.nowMs();
  }

  async lockedUntil(userId: string): Promise<number> {
    const row = await this.deps.db.selectFrom('accountLockouts').select('lockedUntil').where('userId', '=', userId).executeTakeFirst();
    return row?.lockedUntil ?? 0;
  }

  /** An expired lock ends at the next successful login. */
  async unlockIfExpired(user: UserRow): Promise<UserRow> {
    if (user.status !== 'locked' || (await this.isLocked(user))) return user;
    await this.clear(user);
    return { ...user, status: 'active' };
  }

  /** Back to active with clean counters (an admin reactivating, or an expired lock). */
  async clear(user: Pick<UserRow, 'id' | 'username' | 'status'>): Promise<void> {
    const { db, kv, clock } = this.deps;
    await db.deleteFrom('accountLockouts').where('userId', '=', user.id).execute();
    await db.updateTable('users').set({ status: 'active', updatedAt: clock.nowMs() }).where('id', '=', user.id).where('status', '=', 'locked').execute();
    await kv.del(attemptsKey(user.username));
    await kv.del(failuresKey(user.username));
  }

  private async lock(user: UserRow, ip: string | null): Promise<void> {
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    if ((await this.lockedUntil(user.id)) > now) return; // already locked
    const lockedUntil = now + this.deps.lockoutSeconds * 1000;
    const updated = await db.updateTable('users').set({ status: 'locked', updatedAt: now }).where('id', '=', user.id).where('status', 'in', ['active', 'locked']).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return;
    await db
      .insertInto('accountLockouts')
      .values({ userId: user.id, lockedUntil, createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.column('userId').doUpdateSet({ lockedUntil, updatedAt: now }))
      .execute();
    this.deps.events.emit({ type: 'account_locked', at: now, actorId: null, actorIp: ip, userId: user.id, username: user.username, detail: { lockedUntil } });
  }

  private async suspend(user: UserRow, ip: string | null, failures: number): Promise<void> {
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    const updated = await db.updateTable('users').set({ status: 'suspended', updatedAt: now }).where('id', '=', user.id).where('status', '!=', 'suspended').executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return;
    await db.deleteFrom('accountLockouts').where('userId', '=', user.id).execute();
    await this.deps.sessions.revokeAllForUser(user.id, 'suspended_after_failures');
    this.deps.events.emit({ type: 'account_suspended', at: now, actorId: null, actorIp: ip, userId: user.id, username: user.username, detail: { failuresInHour: failures } });
  }
}
