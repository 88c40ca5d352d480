import type { LoginDeps } from './login.js';
import { deliverTokens, type TokenDelivery } from './sessions/delivery.js';
import type { Principal } from './sessions/service.js';

/**
 * A session that just proved a new second factor (a TOTP code, a passkey
 * ceremony) counts as multi-factor from now on: its amr gains the factor and
 * its tokens are reissued, so an admin held at enrollment can go on working.
 * null when the session was multi-factor already.
 */
export async function upgradeSession(deps: LoginDeps, principal: Principal, factor: string): Promise<TokenDelivery | null> {
  if (principal.amr.includes('mfa')) return null;
  const user = await deps.users.getRow(principal.userId);
  const amr = [...new Set([...principal.amr, factor, 'mfa'])];
  const tokens = await deps.sessions.reissue(principal.sessionId, user, principal.jti, principal.accessExpiresAt, amr);
  return deliverTokens(tokens, principal.via, deps.clock.nowMs());
}
