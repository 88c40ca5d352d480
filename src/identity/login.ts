import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { Database } from '../store/sql/tables.js';
import type { AccountGuard } from './account-guard.js';
import { identityError } from './errors.js';
import type { EventSink } from './events.js';
import type { HoneyAccounts } from './honey.js';
import type { LoginLocations } from './locations.js';
import { locationPrefix } from './locations.js';
import type { LoginGuard } from './login-guard.js';
import type { MfaMethod, MfaService } from './mfa/service.js';
import type { MfaTickets } from './mfa/tickets.js';
import type { PasskeyService } from './passkeys/service.js';
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

/** A password login either ends in a session or asks for a second factor. */
export type LoginOutcome = ({ mfaRequired: false } & LoginResult) | { mfaRequired: true; mfaTicket: string; methods: MfaMethod[] };

export interface LoginPolicy {
  requireMfaForAdmins: boolean;
  skipMfaAtKnownLocations: boolean;
}

export interface LoginDeps {
  db: Kysely<Database>;
  clock: Clock;
  hasher: PasswordHasher;
  sessions: SessionService;
  users: UserService;
  events: EventSink;
  mfa: MfaService;
  tickets: MfaTickets;
  passkeys: PasskeyService;
  accounts: AccountGuard;
  locations: LoginLocations;
  honey: HoneyAccounts;
  policy: LoginPolicy;
  /** The per-IP throttle, when the server has one. */
  loginGuard: LoginGuard | null;
}

const MAX_FIELD = 1024;

/**
 * Password login (docs/api.md). Every failure (unknown user, wrong
 * password, locked or suspended account) takes the same path and cost and
 * ends in the same error, so the answer never tells whether a user exists.
 * The account's attempt slot is reserved before the password is checked.
 * With a second factor enrolled the answer is a short-lived ticket, never a token.
 */
export async function passwordLogin(deps: LoginDeps, input: { username: string; password: string }, facts: RequestFacts): Promise<LoginOutcome> {
  const { db, clock, hasher, events, accounts } = deps;
  await deps.loginGuard?.reserve(facts);
  const wellFormed = input.username.length <= MAX_FIELD && input.password.length <= MAX_FIELD;
  const username = input.username.slice(0, MAX_FIELD);
  const user: UserRow | undefined = wellFormed ? await usersRepo.byName(db, username) : undefined;
  const reservation = await accounts.reserve(username);
  // Unknown users (and honey names) are verified against a dummy hash so every path costs the same.
  const verified = await hasher.verify(user ? storedOf(user) : null, wellFormed ? input.password : '', username.slice(0, 64).toLowerCase());
  if (wellFormed && !user && deps.honey.isHoney(username)) return honeyLogin(deps, username, facts);

  let reason: string | null = null;
  if (!user) reason = 'unknown_user';
  else if (user.status === 'suspended') reason = 'account_suspended';
  else if (!reservation.allowed || (await accounts.isLocked(user))) reason = 'account_locked';
  else if (!verified.ok) reason = 'bad_credentials';
  if (user && !reservation.allowed && reason !== 'account_suspended') await accounts.windowFull(user, facts.ip);
  if (!user || reason !== null) {
    if (reason === 'unknown_user' || reason === 'bad_credentials') await accounts.recordFailure(username, user, reservation, facts.ip);
    await deps.loginGuard?.settle(facts, false);
    events.emit({ type: 'login_failed', at: clock.nowMs(), actorId: null, actorIp: facts.ip, userId: user?.id ?? null, username: username.slice(0, 64), reason: reason ?? 'unknown_user' });
    throw identityError('invalid_credentials');
  }

  const active = await accounts.unlockIfExpired(user);
  // The attempt slot stays taken until the whole login completes, so a stolen
  // password buys no extra guesses at the second factor.
  await deps.loginGuard?.settle(facts, true);
  if (verified.needsRehash) {
    // Legacy or old-pepper hashes become current argon2id on the first successful login.
    await deps.users.storePassword(user.id, input.password, user.mustChangePassword === 1);
    events.emit({ type: 'password_rehashed', at: clock.nowMs(), actorId: user.id, actorIp: facts.ip, userId: user.id, detail: { from: user.passwordAlgo } });
  }

  const methods = await deps.mfa.methodsFor(user.id);
  const enrolled = methods.includes('totp') || methods.includes('webauthn');
  const knownLocation = await deps.locations.isKnown(user.id, locationPrefix(facts.ip));
  if (enrolled && secondFactorNeeded(deps.policy, active, knownLocation)) {
    const mfaTicket = await deps.tickets.issue({ userId: user.id, amr: ['pwd'], issuedAt: clock.nowMs() });
    events.emit({ type: 'login_mfa_required', at: clock.nowMs(), actorId: user.id, actorIp: facts.ip, userId: user.id, detail: { methods: methods.join(' '), newLocation: !knownLocation } });
    return { mfaRequired: true, mfaTicket, methods };
  }
  return { mfaRequired: false, ...(await completeLogin(deps, active, ['pwd'], facts, 'password')) };
}

/**
 * A second factor is asked for every time, unless skipping at known locations
 * is configured; even then a new location asks, and an admin under
 * requireMfaForAdmins is always asked.
 */
function secondFactorNeeded(policy: LoginPolicy, user: UserRow, knownLocation: boolean): boolean {
  if (!policy.skipMfaAtKnownLocations || !knownLocation) return true;
  return policy.requireMfaForAdmins && user.role === 'admin';
}

/** The ticket's owner proves the second factor with a TOTP code or a backup code. */
export async function secondFactorLogin(deps: LoginDeps, input: { mfaTicket: string; code: string }, facts: RequestFacts): Promise<LoginResult> {
  const { db, clock, events, accounts, tickets, mfa } = deps;
  await deps.loginGuard?.reserve(facts);
  const ticket = await tickets.peek(input.mfaTicket);
  const user = ticket ? await usersRepo.byId(db, ticket.userId) : undefined;
  const decoy = ticket && !user ? deps.honey.userById(ticket.userId) : undefined;
  if (ticket && decoy) return honeySecondFactor(deps, decoy, input, ticket, facts);
  const fail = async (reason: string, code: 'invalid_mfa_ticket' | 'invalid_mfa_code'): Promise<never> => {
    await deps.loginGuard?.settle(facts, false);
    events.emit({ type: 'login_failed', at: clock.nowMs(), actorId: null, actorIp: facts.ip, userId: user?.id ?? null, username: user?.username ?? null, reason, detail: { stage: 'mfa' } });
    throw identityError(code);
  };
  if (!ticket || !user || user.status === 'suspended') return fail('invalid_mfa_ticket', 'invalid_mfa_ticket');
  // Codes are guessable in a way passwords are not: they take the same account slots.
  const reservation = await accounts.reserve(user.username);
  if (!reservation.allowed) await accounts.windowFull(user, facts.ip);
  if (!reservation.allowed || (await accounts.isLocked(user))) return fail('account_locked', 'invalid_mfa_code');

  const code = input.code.trim();
  let method: 'totp' | 'backup' | null = null;
  if (/^[0-9]{6}$/.test(code)) method = (await mfa.verifyTotp(user.id, code)) ? 'totp' : null;
  else method = (await mfa.useBackupCode(user.id, code, facts.ip)) ? 'backup' : null;
  if (method === null) {
    await accounts.recordFailure(user.username, user, reservation, facts.ip);
    await tickets.recordFailure(input.mfaTicket);
    return fail('bad_mfa_code', 'invalid_mfa_code');
  }
  if (!(await tickets.consume(input.mfaTicket))) return fail('invalid_mfa_ticket', 'invalid_mfa_ticket');
  await deps.loginGuard?.settle(facts, true);
  // RFC 8176: a backup code is a one-time password too; the event names which one it was.
  return completeLogin(deps, user, [...ticket.amr, 'otp', 'mfa'], facts, method);
}

/** Ends a successful login: the session, the location record and the events. */
export async function completeLogin(deps: LoginDeps, user: UserRow, amr: string[], facts: RequestFacts, method: string): Promise<LoginResult> {
  const { clock, events } = deps;
  await deps.accounts.succeeded(user.username);
  const tokens = await deps.sessions.issue(user, amr, facts);
  const now = clock.nowMs();
  const prefix = locationPrefix(facts.ip);
  const location = await deps.locations.record(user.id, prefix, now);
  if (location === 'new') {
    events.emit({ type: 'new_location', at: now, actorId: user.id, actorIp: facts.ip, userId: user.id, username: user.username, detail: { prefix, mfa: amr.includes('mfa') } });
  }
  events.emit({ type: 'login_succeeded', at: now, actorId: user.id, actorIp: facts.ip, userId: user.id, username: user.username, detail: { method, amr: amr.join(' ') } });
  return { user: toUserView(user), tokens, passwordChangeRequired: user.mustChangePassword === 1 };
}

/**
 * A decoy login: the same reads a real success makes, then tokens for a
 * decoy session and an incident event (audit, metrics and the security log
 * subscribe to `honey_hit`). Under requireMfaForAdmins a real admin has a
 * second factor, so an admin decoy "has" TOTP too and gets a real ticket.
 */
async function honeyLogin(deps: LoginDeps, username: string, facts: RequestFacts): Promise<LoginOutcome> {
  const fake = deps.honey.userFor(username);
  const role = fake.role === 'admin' ? 'admin' : 'operator';
  await deps.loginGuard?.settle(facts, true);
  await deps.mfa.methodsFor(fake.id);
  await deps.locations.isKnown(fake.id, locationPrefix(facts.ip));
  const hit = (reason: string, detail: Record<string, unknown>) =>
    deps.events.emit({ type: 'honey_hit', at: deps.clock.nowMs(), actorId: null, actorIp: facts.ip, userId: null, username: fake.username, reason, detail: { userAgent: facts.userAgent, ...detail } });
  if (role === 'admin' && deps.policy.requireMfaForAdmins) {
    const mfaTicket = await deps.tickets.issue({ userId: fake.id, amr: ['pwd'], issuedAt: deps.clock.nowMs() });
    hit('honey_account_login', { mfaRequired: true });
    return { mfaRequired: true, mfaTicket, methods: ['totp', 'backup'] };
  }
  const tokens = await deps.sessions.issueDecoy({ id: fake.id, role }, deps.honey.newDecoySid(), ['pwd'], facts);
  hit('honey_account_login', { sessionId: tokens.sessionId });
  return { mfaRequired: false, user: fake, tokens, passwordChangeRequired: false };
}

/**
 * A decoy's second factor: any six-digit code passes, after the same reads and
 * the same TOTP check a real one costs; any other code fails like a wrong backup code.
 */
async function honeySecondFactor(deps: LoginDeps, fake: UserView, input: { mfaTicket: string; code: string }, ticket: { amr: string[] }, facts: RequestFacts): Promise<LoginResult> {
  const { tickets, accounts, mfa, events, clock } = deps;
  await accounts.reserve(fake.username);
  const code = input.code.trim();
  const ok = /^[0-9]{6}$/.test(code);
  await (ok ? mfa.verifyTotp(fake.id, code) : mfa.useBackupCode(fake.id, code, facts.ip));
  if (!ok || !(await tickets.consume(input.mfaTicket))) {
    if (!ok) await tickets.recordFailure(input.mfaTicket);
    await deps.loginGuard?.settle(facts, false);
    throw identityError(ok ? 'invalid_mfa_ticket' : 'invalid_mfa_code');
  }
  await deps.loginGuard?.settle(facts, true);
  const tokens = await deps.sessions.issueDecoy({ id: fake.id, role: fake.role === 'admin' ? 'admin' : 'operator' }, deps.honey.newDecoySid(), [...ticket.amr, 'otp', 'mfa'], facts);
  events.emit({
    type: 'honey_hit',
    at: clock.nowMs(),
    actorId: null,
    actorIp: facts.ip,
    userId: null,
    username: fake.username,
    reason: 'honey_account_mfa',
    detail: { userAgent: facts.userAgent, sessionId: tokens.sessionId },
  });
  return { user: fake, tokens, passwordChangeRequired: false };
}
