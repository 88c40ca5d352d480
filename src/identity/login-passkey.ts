import { identityError } from './errors.js';
import { completeLogin, type LoginDeps, type LoginResult } from './login.js';
import { ticketDigest } from './mfa/tickets.js';
import type { AuthenticationResponseJSON, PasskeyAssertion, PublicKeyCredentialRequestOptionsJSON } from './passkeys/service.js';
import type { RequestFacts } from './sessions/service.js';
import { usersRepo } from './users/repo.js';

/**
 * Options for a passkey assertion: bound to an MFA ticket (second factor after
 * the password) or, without one, for passwordless login with a discoverable credential.
 */
export async function passkeyLoginOptions(deps: LoginDeps, input: { mfaTicket?: string }): Promise<PublicKeyCredentialRequestOptionsJSON> {
  if (input.mfaTicket === undefined) return deps.passkeys.authenticationOptions({ userId: null, ticketHash: null });
  const ticket = await deps.tickets.peek(input.mfaTicket);
  if (!ticket) throw identityError('invalid_mfa_ticket');
  return deps.passkeys.authenticationOptions({ userId: ticket.userId, ticketHash: ticketDigest(input.mfaTicket) });
}

/**
 * Login with a passkey. It succeeds while the account is locked:
 * the lock stops password guessing, and an attacker who cannot forge a passkey
 * must not be able to lock its owner out. A suspended account stays shut.
 */
export async function passkeyLogin(
  deps: LoginDeps,
  input: { response: AuthenticationResponseJSON; mfaTicket?: string },
  facts: RequestFacts,
  origins: string[],
): Promise<LoginResult> {
  const { db, clock, events } = deps;
  await deps.loginGuard?.reserve(facts);
  const fail = async (reason: string, err?: unknown): Promise<never> => {
    await deps.loginGuard?.settle(facts, false);
    events.emit({ type: 'login_failed', at: clock.nowMs(), actorId: null, actorIp: facts.ip, userId: null, reason, detail: { stage: 'passkey' } });
    throw err ?? identityError('passkey_failed');
  };
  const ticket = input.mfaTicket === undefined ? null : await deps.tickets.peek(input.mfaTicket);
  if (input.mfaTicket !== undefined && !ticket) return fail('invalid_mfa_ticket', identityError('invalid_mfa_ticket'));

  let assertion: PasskeyAssertion;
  try {
    assertion = await deps.passkeys.verifyAssertion(input.response, input.mfaTicket === undefined ? null : ticketDigest(input.mfaTicket), origins);
  } catch (err) {
    return fail('passkey_failed', err);
  }
  const user = await usersRepo.byId(db, assertion.userId);
  if (!user || user.status === 'suspended' || (ticket && ticket.userId !== user.id)) return fail('account_inactive');
  if (input.mfaTicket !== undefined && !(await deps.tickets.consume(input.mfaTicket))) return fail('invalid_mfa_ticket', identityError('invalid_mfa_ticket'));
  await deps.loginGuard?.settle(facts, true);
  // RFC 8176: hwk for a device-bound key, swk for a synced one; user verification makes either multi-factor.
  const amr = ticket ? [...ticket.amr, assertion.amr, 'mfa'] : [assertion.amr, 'mfa'];
  return completeLogin(deps, user, amr, facts, ticket ? 'passkey_second_factor' : 'passkey');
}
