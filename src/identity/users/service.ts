import type { Kysely } from 'kysely';
import type { PasswordPolicy } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import { decodeCursor, toPage, type Page } from '../../lib/cursor.js';
import { newId } from '../../lib/ids.js';
import type { Database } from '../../store/sql/tables.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import { checkPasswordPolicy } from '../passwords/policy.js';
import type { Role, UserStatus } from '../roles.js';
import type { SessionService } from '../sessions/service.js';
import { usersRepo, type UserRow } from './repo.js';
import { toUserView, type UserView } from './view.js';

const USERNAME = /^[a-zA-Z0-9_.-]{3,64}$/;

export interface Actor {
  id: string | null;
  ip: string | null;
}

export interface UserServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  hasher: PasswordHasher;
  sessions: SessionService;
  events: EventSink;
  policy: PasswordPolicy;
  /** Decoy (honey) names nobody may register. */
  reservedUsernames: readonly string[];
  /** Lock state and failure counters (account-guard.ts). */
  accounts?: {
    lockedUntil(userId: string): Promise<number>;
    clear(user: Pick<UserRow, 'id' | 'username' | 'status'>): Promise<void>;
  };
}

/** User management shared by the admin API and the CLI. */
export class UserService {
  private readonly reserved: Set<string>;

  constructor(private readonly deps: UserServiceDeps) {
    this.reserved = new Set(deps.reservedUsernames.map((n) => n.toLowerCase()));
  }

  async create(input: { username: string; password: string; role: Role; mustChangePassword?: boolean }, actor: Actor): Promise<UserView> {
    const { db, clock } = this.deps;
    if (!USERNAME.test(input.username)) throw identityError('invalid_username');
    if (this.reserved.has(input.username.toLowerCase())) throw identityError('username_reserved');
    this.enforcePolicy(input.password, input.username);
    if (await usersRepo.byName(db, input.username)) throw identityError('username_taken');
    const stored = await this.deps.hasher.hash(input.password);
    const now = clock.nowMs();
    const row: UserRow = {
      id: newId(),
      username: input.username,
      role: input.role,
      status: 'active',
      passwordHash: stored.hash,
      passwordAlgo: stored.algo,
      passwordSalt: stored.salt,
      pepperVersion: stored.pepperVersion,
      mustChangePassword: input.mustChangePassword === false ? 0 : 1,
      passwordChangedAt: now,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await usersRepo.insert(db, row);
    } catch (err) {
      // Two creates racing for one name: the unique index decides.
      if (await usersRepo.byName(db, input.username)) throw identityError('username_taken', { cause: err });
      throw err;
    }
    this.emit('user_created', actor, row.id, { role: input.role });
    return toUserView(row);
  }

  async get(id: string): Promise<UserView> {
    return this.view(await this.require(id));
  }

  count(): Promise<number> {
    return usersRepo.count(this.deps.db);
  }

  /** The stored row, for flows inside identity (never sent to a client as is). */
  getRow(id: string): Promise<UserRow> {
    return this.require(id);
  }

  async getByName(username: string): Promise<UserRow> {
    const row = await usersRepo.byName(this.deps.db, username);
    if (!row) throw identityError('user_not_found');
    return row;
  }

  async list(opts: { limit: number; cursor?: string }): Promise<Page<UserView>> {
    const rows = await usersRepo.list(this.deps.db, { limit: opts.limit, after: decodeCursor(opts.cursor) });
    const page = toPage(rows, opts.limit, (r) => r.username);
    return { items: await Promise.all(page.items.map((row) => this.view(row))), next: page.next };
  }

  /** Role and status changes end the user's sessions so a stale role cannot linger in a token. */
  async update(id: string, patch: { role?: Role; status?: UserStatus }, actor: Actor): Promise<UserView> {
    const { db, clock } = this.deps;
    const user = await this.require(id);
    if (actor.id === id) throw identityError('self_change');
    const demotesAdmin = user.role === 'admin' && user.status === 'active' && ((patch.role && patch.role !== 'admin') || (patch.status && patch.status !== 'active'));
    if (demotesAdmin && (await usersRepo.countActiveAdmins(db)) <= 1) throw identityError('last_admin');
    const changes = { ...(patch.role ? { role: patch.role } : {}), ...(patch.status ? { status: patch.status } : {}) };
    // Reactivating ends a lock or a suspension with clean failure counters.
    if (patch.status === 'active' && user.status !== 'active') await this.deps.accounts?.clear(user);
    await usersRepo.update(db, id, { ...changes, updatedAt: clock.nowMs() });
    await this.deps.sessions.revokeAllForUser(id, 'user_updated');
    this.emit('user_updated', actor, id, { before: `${user.role}/${user.status}`, after: `${patch.role ?? user.role}/${patch.status ?? user.status}` });
    return this.get(id);
  }

  /** An admin sets a one-time password; the user must change it at next login. */
  async resetPassword(id: string, password: string, actor: Actor): Promise<UserView> {
    const user = await this.require(id);
    this.enforcePolicy(password, user.username);
    await this.storePassword(user.id, password, true);
    await this.deps.sessions.revokeAllForUser(id, 'password_reset');
    this.emit('password_reset', actor, id);
    return this.get(id);
  }

  /** The user changes their own password; other sessions end, this one continues. */
  async changeOwnPassword(userId: string, current: string, next: string, actor: Actor & { sessionId: string }): Promise<UserRow> {
    const user = await this.require(userId);
    const verified = await this.deps.hasher.verify(storedOf(user), current);
    if (!verified.ok) throw identityError('wrong_password');
    this.enforcePolicy(next, user.username);
    if (current === next) throw identityError('weak_password', { message: 'the new password must differ from the current one' });
    await this.storePassword(user.id, next, false);
    await this.deps.sessions.revokeAllForUser(userId, 'password_changed', actor.sessionId);
    this.emit('password_changed', actor, userId);
    return this.require(userId);
  }

  async remove(id: string, actor: Actor): Promise<void> {
    const user = await this.require(id);
    if (actor.id === id) throw identityError('self_change');
    if (user.role === 'admin' && user.status === 'active' && (await usersRepo.countActiveAdmins(this.deps.db)) <= 1) throw identityError('last_admin');
    await this.deps.sessions.revokeAllForUser(id, 'user_deleted');
    await usersRepo.remove(this.deps.db, id);
    this.emit('user_deleted', actor, id, { username: user.username });
  }

  async storePassword(userId: string, password: string, mustChange: boolean): Promise<void> {
    const stored = await this.deps.hasher.hash(password);
    const now = this.deps.clock.nowMs();
    await usersRepo.update(this.deps.db, userId, {
      passwordHash: stored.hash,
      passwordAlgo: stored.algo,
      passwordSalt: stored.salt,
      pepperVersion: stored.pepperVersion,
      mustChangePassword: mustChange ? 1 : 0,
      passwordChangedAt: now,
      updatedAt: now,
    });
  }

  private enforcePolicy(password: string, username: string): void {
    const problems = checkPasswordPolicy(password, username, this.deps.policy);
    if (problems.length > 0) throw identityError('weak_password', { message: `the password does not meet the policy: ${problems.join('; ')}` });
  }

  private async view(row: UserRow): Promise<UserView> {
    return toUserView(row, row.status === 'locked' && this.deps.accounts ? await this.deps.accounts.lockedUntil(row.id) : undefined);
  }

  private async require(id: string): Promise<UserRow> {
    const row = await usersRepo.byId(this.deps.db, id);
    if (!row) throw identityError('user_not_found');
    return row;
  }

  private emit(type: 'user_created' | 'user_updated' | 'user_deleted' | 'password_changed' | 'password_reset', actor: Actor, userId: string, detail?: Record<string, string>): void {
    this.deps.events.emit({ type, at: this.deps.clock.nowMs(), actorId: actor.id, actorIp: actor.ip, userId, ...(detail ? { detail } : {}) });
  }
}

export function storedOf(user: UserRow) {
  return {
    hash: user.passwordHash,
    algo: user.passwordAlgo as 'argon2id' | 'sha256' | 'bcrypt',
    salt: user.passwordSalt,
    pepperVersion: user.pepperVersion,
  };
}
