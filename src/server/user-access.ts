import type { identityErrors } from '../identity/errors.js';
import type { Principal } from '../identity/sessions/service.js';
import { roleAllows, type UserPolicy } from '../protocol/route-policy.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const isSafeMethod = (method: string): boolean => SAFE_METHODS.has(method);

/**
 * What an authenticated principal may not do on a user route, checked in this
 * order; null when every declared gate passes. Step-up freshness and CSRF are
 * checked by the caller (they need the Kv and the request).
 */
export function principalRefusal(
  policy: UserPolicy,
  principal: Principal,
  method: string,
  opts: { requireMfaForAdmins?: boolean } = {},
): keyof typeof identityErrors | null {
  // A decoy changes nothing. Its reads pass the same checks as a real session's, then get fabrications (answerDecoyRead).
  if (principal.decoy && !isSafeMethod(method) && !policy.decoySafe) return 'forbidden';
  if (principal.passwordChangeRequired && !policy.allowDuringPasswordChange) return 'password_change_required';
  if (opts.requireMfaForAdmins && principal.role === 'admin' && !principal.amr.includes('mfa') && !policy.allowDuringMfaEnrollment) {
    return 'mfa_enrollment_required';
  }
  if (!roleAllows(principal.role, policy.role)) return 'forbidden';
  if (!principal.scopes.includes(policy.scope)) return 'insufficient_scope';
  return null;
}
