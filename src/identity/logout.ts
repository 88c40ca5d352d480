import type { LoginDeps } from './login.js';
import type { Principal } from './sessions/service.js';

/**
 * Ends the caller's session and, at once, the access token it came with
 * (which would otherwise live out its minutes).
 */
export async function logout(deps: LoginDeps, principal: Principal, ip: string | null): Promise<void> {
  const { sessions, events, clock } = deps;
  await sessions.revoke(principal.sessionId, 'logout');
  await sessions.revokeAccessToken(principal.jti, principal.accessExpiresAt);
  // A decoy's user exists nowhere; its whole visit is already recorded as honey_hit.
  if (!principal.decoy) events.emit({ type: 'logout', at: clock.nowMs(), actorId: principal.userId, actorIp: ip, userId: principal.userId });
}
