import type { Kysely } from 'kysely';
import type { Config, Secrets } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import { deriveAtRestKey } from '../protocol/at-rest.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import { AccountGuard } from './account-guard.js';
import { EventBus } from './events.js';
import { HoneyAccounts } from './honey.js';
import { LoginLocations } from './locations.js';
import type { LoginGuard } from './login-guard.js';
import { passkeyLogin, passkeyLoginOptions } from './login-passkey.js';
import { passwordLogin, secondFactorLogin, type LoginDeps, type LoginOutcome, type LoginResult } from './login.js';
import { MfaService } from './mfa/service.js';
import { MfaTickets } from './mfa/tickets.js';
import { PasskeyService, type AuthenticationResponseJSON, type PublicKeyCredentialRequestOptionsJSON } from './passkeys/service.js';
import { PasswordHasher } from './passwords/hasher.js';
import { reauthenticate, reauthPasskeyOptions, type ReauthInput, type ReauthSession } from './reauth.js';
import { SessionService, type Principal, type RequestFacts } from './sessions/service.js';
import type { TokenDelivery } from './sessions/delivery.js';
import { logout } from './logout.js';
import { changeOwnPassword } from './password-change.js';
import { refreshSession, type PresentedRefresh } from './refresh.js';
import { upgradeSession } from './session-upgrade.js';
import { accessTokens } from './tokens/access-token.js';
import { UserService, type Actor } from './users/service.js';
import type { UserView } from './users/view.js';
import { hkdfKey } from '../protocol/kdf.js';

export interface Identity {
  users: UserService;
  sessions: SessionService;
  hasher: PasswordHasher;
  events: EventBus;
  csrfKey: Uint8Array;
  mfa: MfaService;
  passkeys: PasskeyService;
  accounts: AccountGuard;
  locations: LoginLocations;
  honey: HoneyAccounts;
  /** security.requireMfaForAdmins, for the route policy. */
  requireMfaForAdmins: boolean;
  /** Password first; a session, or an MFA ticket when a second factor is due. */
  login(input: { username: string; password: string }, facts: RequestFacts): Promise<LoginOutcome>;
  /** The second step with a TOTP or backup code. */
  loginSecondFactor(input: { mfaTicket: string; code: string }, facts: RequestFacts): Promise<LoginResult>;
  passkeyLoginOptions(input: { mfaTicket?: string }): Promise<PublicKeyCredentialRequestOptionsJSON>;
  passkeyLogin(input: { response: AuthenticationResponseJSON; mfaTicket?: string }, facts: RequestFacts, origins: string[]): Promise<LoginResult>;
  /** A signed-in session proves its user again for step-up routes; returns until when the proof counts. */
  reauthenticate(session: ReauthSession, input: ReauthInput, facts: RequestFacts, origins: string[]): Promise<number>;
  reauthPasskeyOptions(session: ReauthSession): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /** An admin removes every second factor of a user (who then logs in with the password alone and re-enrolls). */
  resetMfa(userId: string, actor: Actor): Promise<void>;
  /** New tokens for a refresh token, the way it was presented (body or cookie). */
  refresh(presented: PresentedRefresh, facts: RequestFacts): Promise<TokenDelivery>;
  /** Ends the caller's session and its access token. */
  logout(principal: Principal, ip: string | null): Promise<void>;
  /** The caller's own password; the session goes on with fresh tokens, delivered the way the caller authenticated. */
  changeOwnPassword(principal: Principal, input: { currentPassword: string; newPassword: string }, ip: string | null): Promise<{ user: UserView; delivery: TokenDelivery }>;
  /** After the caller proved a newly enrolled factor: the session becomes multi-factor (null if it already was). */
  upgradeSession(principal: Principal, factor: string): Promise<TokenDelivery | null>;
}

/** Separate keys per purpose, all derived from one root secret. */
function derive(secret: string, purpose: string): Uint8Array {
  return hkdfKey(Buffer.from(secret, 'base64url'), `flotilla/${purpose}`);
}

export async function createIdentity(opts: { db: Kysely<Database>; kv: Kv; clock: Clock; config: Config; secrets: Secrets; loginGuard?: LoginGuard }): Promise<Identity> {
  const { db, kv, clock, config, secrets } = opts;
  const security = config.security;
  const events = new EventBus();
  const hasher = await PasswordHasher.create({ peppers: secrets.pepper, concurrency: security.argon2Concurrency });
  const csrfKey = derive(secrets.jwt, 'csrf');
  const honey = new HoneyAccounts(security.honeyAccounts, derive(secrets.jwt, 'honey'), clock);
  const sessions = new SessionService({
    db,
    kv,
    clock,
    tokens: accessTokens(derive(secrets.jwt, 'access-token'), security.accessTokenTtl, clock),
    csrfKey,
    events,
    refreshTtlSeconds: security.refreshTokenTtl,
    idleTimeoutSeconds: security.sessionTimeout,
    decoys: honey,
  });
  const accounts = new AccountGuard({
    db,
    kv,
    clock,
    events,
    sessions,
    maxAttempts: security.maxLoginAttempts,
    lockoutSeconds: security.lockoutDuration,
    suspendAfter: security.suspendAfterFailures,
  });
  const users = new UserService({ db, clock, hasher, sessions, events, policy: security.passwordPolicy, reservedUsernames: security.honeyAccounts, accounts });
  const mfa = new MfaService({ db, clock, events, atRestKey: deriveAtRestKey(secrets.db), backupCodeKey: derive(secrets.db, 'backup-codes'), issuer: security.organizationName });
  const passkeys = new PasskeyService({
    db,
    kv,
    clock,
    events,
    config: { rpId: security.webauthn.rpId, rpName: security.organizationName, origins: security.webauthn.origins, publicUrl: config.server.publicUrl },
  });
  const locations = new LoginLocations(db);
  const deps: LoginDeps = {
    db,
    clock,
    hasher,
    sessions,
    users,
    events,
    mfa,
    tickets: new MfaTickets(kv),
    passkeys,
    accounts,
    locations,
    honey,
    policy: { requireMfaForAdmins: security.requireMfaForAdmins, skipMfaAtKnownLocations: security.skipMfaAtKnownLocations },
    loginGuard: opts.loginGuard ?? null,
  };
  return {
    users,
    sessions,
    hasher,
    events,
    csrfKey,
    mfa,
    passkeys,
    accounts,
    locations,
    honey,
    requireMfaForAdmins: security.requireMfaForAdmins,
    login: (input, facts) => passwordLogin(deps, input, facts),
    loginSecondFactor: (input, facts) => secondFactorLogin(deps, input, facts),
    passkeyLoginOptions: (input) => passkeyLoginOptions(deps, input),
    passkeyLogin: (input, facts, origins) => passkeyLogin(deps, input, facts, origins),
    reauthenticate: (session, input, facts, origins) => reauthenticate(deps, session, input, facts, origins),
    reauthPasskeyOptions: (session) => reauthPasskeyOptions(deps, session),
    refresh: (presented, facts) => refreshSession(deps, presented, facts),
    logout: (principal, ip) => logout(deps, principal, ip),
    changeOwnPassword: (principal, input, ip) => changeOwnPassword(deps, principal, input, ip),
    upgradeSession: (principal, factor) => upgradeSession(deps, principal, factor),
    async resetMfa(userId, actor) {
      await users.get(userId);
      await mfa.removeAll(userId);
      // Sessions that passed the removed factors must not outlive them.
      await sessions.revokeAllForUser(userId, 'mfa_reset');
      events.emit({ type: 'mfa_reset', at: clock.nowMs(), actorId: actor.id, actorIp: actor.ip, userId });
    },
  };
}
