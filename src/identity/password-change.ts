import type { LoginDeps } from './login.js';
import { deliverTokens, type TokenDelivery } from './sessions/delivery.js';
import type { Principal } from './sessions/service.js';
import { toUserView, type UserView } from './users/view.js';

/**
 * The signed-in user changes their own password. Every other session of the
 * user ends; this one goes on with fresh tokens that no longer demand a
 * password change.
 */
export async function changeOwnPassword(
  deps: LoginDeps,
  principal: Principal,
  input: { currentPassword: string; newPassword: string },
  ip: string | null,
): Promise<{ user: UserView; delivery: TokenDelivery }> {
  const { users, sessions, clock } = deps;
  const actor = { id: principal.userId, ip, sessionId: principal.sessionId };
  const user = await users.changeOwnPassword(principal.userId, input.currentPassword, input.newPassword, actor);
  const tokens = await sessions.reissue(principal.sessionId, user, principal.jti, principal.accessExpiresAt);
  // The current password was just proved: a step-up for the next five minutes.
  await sessions.stepUp.record(principal.sessionId);
  return { user: toUserView(user), delivery: deliverTokens(tokens, principal.via, clock.nowMs()) };
}
