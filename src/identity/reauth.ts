import { identityError } from './errors.js';
import type { LoginDeps } from './login.js';
import { ticketDigest } from './mfa/tickets.js';
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from './passkeys/service.js';
import type { RequestFacts } from './sessions/service.js';
import { usersRepo, type UserRow } from './users/repo.js';
import { storedOf } from './users/service.js';

/** One proof: the current password, a TOTP or backup code, or a passkey assertion. */
export type ReauthInput = { password: string } | { code: string } | { passkey: AuthenticationResponseJSON };

export interface ReauthSession {
  userId: string;
  sessionId: string;
}

const MAX_FIELD = 1024;

/** Passkey challenges for a step-up are bound to the session, so no login ticket can spend them. */
const passkeyBinding = (sessionId: string) => ticketDigest(`reauth:${sessionId}`);

export function reauthPasskeyOptions(deps: LoginDeps, session: ReauthSession): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return deps.passkeys.authenticationOptions({ userId: session.userId, ticketHash: passkeyBinding(session.sessionId) });
}

/**
 * A signed-in session proves its user again (sessions/step-up.ts). Passwords
 * and codes take the account's attempt slots and the per-IP throttle exactly
 * as at login, so a stolen session cannot use this to guess either: wrong
 * answers lock, then suspend, the account. Every failure is one 403, never a
 * 401, which the dashboard would read as an ended session. Returns until when
 * the proof counts.
 */
export async function reauthenticate(deps: LoginDeps, session: ReauthSession, input: ReauthInput, facts: RequestFacts, origins: string[]): Promise<number> {
  const { db, clock, events, accounts } = deps;
  await deps.loginGuard?.reserve(facts);
  const user = await usersRepo.byId(db, session.userId);
  const fail = async (reason: string): Promise<never> => {
    await deps.loginGuard?.settle(facts, false);
    events.emit({ type: 'login_failed', at: clock.nowMs(), actorId: session.userId, actorIp: facts.ip, userId: session.userId, username: user?.username ?? null, reason, detail: { stage: 'reauth' } });
    throw identityError('reauthentication_failed');
  };
  if (!user || user.status === 'suspended') return fail('account_inactive');

  let method: string | null;
  if ('passkey' in input) {
    // Like passkey login: an assertion cannot be guessed, so it takes no account slot.
    method = await passkeyProof(deps, session, input.passkey, origins);
  } else {
    const reservation = await accounts.reserve(user.username);
    if (!reservation.allowed) await accounts.windowFull(user, facts.ip);
    if (!reservation.allowed || (await accounts.isLocked(user))) return fail('account_locked');
    method = 'password' in input ? await passwordProof(deps, user, input.password) : await codeProof(deps, user, input.code, facts);
    if (method === null) {
      await accounts.recordFailure(user.username, user, reservation, facts.ip);
      return fail('password' in input ? 'bad_credentials' : 'bad_mfa_code');
    }
    await accounts.succeeded(user.username);
  }
  if (method === null) return fail('passkey_failed');
  await deps.loginGuard?.settle(facts, true);
  const validUntil = await deps.sessions.stepUp.record(session.sessionId);
  events.emit({ type: 'reauthenticated', at: clock.nowMs(), actorId: user.id, actorIp: facts.ip, userId: user.id, detail: { method } });
  return validUntil;
}

async function passwordProof(deps: LoginDeps, user: UserRow, password: string): Promise<string | null> {
  const wellFormed = password.length <= MAX_FIELD;
  const verified = await deps.hasher.verify(storedOf(user), wellFormed ? password : '', user.username.slice(0, 64).toLowerCase());
  return wellFormed && verified.ok ? 'password' : null;
}

async function codeProof(deps: LoginDeps, user: UserRow, raw: string, facts: RequestFacts): Promise<string | null> {
  const code = raw.trim();
  if (/^[0-9]{6}$/.test(code)) return (await deps.mfa.verifyTotp(user.id, code)) ? 'totp' : null;
  return (await deps.mfa.useBackupCode(user.id, code.slice(0, MAX_FIELD), facts.ip)) ? 'backup' : null;
}

async function passkeyProof(deps: LoginDeps, session: ReauthSession, response: AuthenticationResponseJSON, origins: string[]): Promise<string | null> {
  try {
    const assertion = await deps.passkeys.verifyAssertion(response, passkeyBinding(session.sessionId), origins);
    return assertion.userId === session.userId ? 'passkey' : null;
  } catch {
    return null;
  }
}
