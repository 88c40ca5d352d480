import { identityError } from './errors.js';
import type { LoginDeps } from './login.js';
import { deliverTokens, type TokenDelivery } from './sessions/delivery.js';
import type { RequestFacts } from './sessions/service.js';

/**
 * A refresh token as the caller sent it: an API client in the body, a browser
 * in the cookie its browser attaches on its own, with the CSRF header beside it.
 */
export type PresentedRefresh = { via: 'bearer'; token: string } | { via: 'cookie'; token: string | undefined; csrfHeader: string | undefined };

/**
 * Exchanges a refresh token for new tokens, handed back the way the old one
 * came. Like any cookie-authenticated change, a cookie refresh needs the CSRF header.
 */
export async function refreshSession(deps: LoginDeps, presented: PresentedRefresh, facts: RequestFacts): Promise<TokenDelivery> {
  if (!presented.token) throw identityError('invalid_refresh_token');
  const csrf = presented.via === 'cookie' ? { presented: presented.csrfHeader } : undefined;
  const tokens = await deps.sessions.refresh(presented.token, facts, csrf);
  return deliverTokens(tokens, presented.via, deps.clock.nowMs());
}
