import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { Database } from '../store/sql/tables.js';
import { identityError } from './errors.js';
import type { EventSink } from './events.js';
import type { PasswordHasher } from './passwords/hasher.js';
import type { IssuedTokens, RequestFacts, SessionService } from './sessions/service.js';
import { usersRepo, type UserRow } from './users/repo.js';
import { storedOf, type UserService } from './users/service.js';
import { toUserView, type UserView } from './users/view.js';

export interface LoginResult {
  user: UserView;
  tokens: IssuedTokens;
  passwordChangeRequired: boolean;
}

export interface LoginDeps {
  db: Kysely<Database>;
  clock: Clock;
  hasher: PasswordHasher;
  sessions: SessionService;
  users: UserService;
  events: EventSink;
}

const MAX_FIELD = 1024;

/**
 * Password login. Every failure (unknown user, wrong password, inactive
 * account) takes the same path and cost and ends in the same error, so the
 * answer never tells whether a user exists.
 */
export async function passwordLogin(deps: LoginDeps, input: { username: string; password: string }, facts: RequestFacts): Promise<LoginResult> {
  const { db, clock, hasher, events } = deps;
  const wellFormed = input.username.length <= MAX_FIELD && input.password.length <= MAX_FIELD;
  const user: UserRow | undefined = wellFormed ? await usersRepo.byName(db, input.username) : undefined;
  // Unknown users are verified against a dummy hash so both paths cost the same.
  const verified = await hasher.verify(user ? storedOf(user) : null, wellFormed ? input.password : '', input.username.slice(0, 64).toLowerCase());
  const now = clock.nowMs();
  if (!user || !verified.ok || user.status !== 'active') {
    const reason = !user ? 'unknown_user' : !verified.ok ? 'bad_credentials' : `account_${user.status}`;
    events.emit({ type: 'login_failed', at: now, actorId: null, actorIp: facts.ip, userId: user?.id ?? null, username: input.username.slice(0, 64), reason });
    throw identityError('invalid_credentials');
  }
  if (verified.needsRehash) {
    // Legacy or old-pepper hashes become current argon2id on the first successful login.
    await deps.users.storePassword(user.id, input.password, user.mustChangePassword === 1);
    events.emit({ type: 'password_rehashed', at: now, actorId: user.id, actorIp: facts.ip, userId: user.id, detail: { from: user.passwordAlgo } });
  }
  const tokens = await deps.sessions.issue(user, ['pwd'], facts);
  events.emit({ type: 'login_succeeded', at: now, actorId: user.id, actorIp: facts.ip, userId: user.id, username: user.username });
  return { user: toUserView(user), tokens, passwordChangeRequired: user.mustChangePassword === 1 };
}
