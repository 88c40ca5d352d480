import { hkdfSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Config, Secrets } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import { EventBus } from './events.js';
import { passwordLogin, type LoginResult } from './login.js';
import { PasswordHasher } from './passwords/hasher.js';
import { SessionService, type RequestFacts } from './sessions/service.js';
import { accessTokens } from './tokens/access-token.js';
import { UserService } from './users/service.js';

export interface Identity {
  users: UserService;
  sessions: SessionService;
  hasher: PasswordHasher;
  events: EventBus;
  csrfKey: Uint8Array;
  login(input: { username: string; password: string }, facts: RequestFacts): Promise<LoginResult>;
}

/** Separate keys per purpose, all derived from the one JWT secret. */
function derive(secret: string, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', Buffer.from(secret, 'base64url'), Buffer.alloc(0), `flotilla/${purpose}`, 32));
}

export async function createIdentity(opts: { db: Kysely<Database>; kv: Kv; clock: Clock; config: Config; secrets: Secrets }): Promise<Identity> {
  const { db, kv, clock, config, secrets } = opts;
  const security = config.security;
  const events = new EventBus();
  const hasher = await PasswordHasher.create({ peppers: secrets.pepper, concurrency: security.argon2Concurrency });
  const csrfKey = derive(secrets.jwt, 'csrf');
  const sessions = new SessionService({
    db,
    kv,
    clock,
    tokens: accessTokens(derive(secrets.jwt, 'access-token'), security.accessTokenTtl, clock),
    csrfKey,
    events,
    refreshTtlSeconds: security.refreshTokenTtl,
    idleTimeoutSeconds: security.sessionTimeout,
  });
  const users = new UserService({ db, clock, hasher, sessions, events, policy: security.passwordPolicy, reservedUsernames: security.honeyAccounts });
  return {
    users,
    sessions,
    hasher,
    events,
    csrfKey,
    login: (input, facts) => passwordLogin({ db, clock, hasher, sessions, users, events }, input, facts),
  };
}
