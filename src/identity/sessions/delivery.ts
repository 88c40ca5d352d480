import type { IssuedTokens } from './service.js';

/** How a caller holds its tokens: a browser in cookies, an API client as bearer tokens. */
export type TokenTransport = 'cookie' | 'bearer';

/**
 * A browser gets its tokens as HttpOnly cookies, out of reach of page
 * scripts; its body carries only the CSRF token that proves a request came
 * from our page.
 */
export interface CookieDelivery {
  transport: 'cookie';
  tokens: IssuedTokens;
  /** Seconds the refresh and CSRF cookies live: as long as the session. */
  sessionMaxAge: number;
  body: { csrfToken: string; expiresIn: number };
}

/** An API client keeps its tokens itself. */
export interface BearerDelivery {
  transport: 'bearer';
  body: { accessToken: string; refreshToken: string; expiresIn: number };
}

export type TokenDelivery = CookieDelivery | BearerDelivery;

export function cookieDelivery(tokens: IssuedTokens, nowMs: number): CookieDelivery {
  return {
    transport: 'cookie',
    tokens,
    sessionMaxAge: Math.max(1, Math.floor((tokens.refreshExpiresAt - nowMs) / 1000)),
    body: { csrfToken: tokens.csrfToken, expiresIn: tokens.expiresIn },
  };
}

export function bearerDelivery(tokens: IssuedTokens): BearerDelivery {
  return { transport: 'bearer', body: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn } };
}

/** New tokens go to the caller the way it presented its old ones. */
export function deliverTokens(tokens: IssuedTokens, transport: TokenTransport, nowMs: number): TokenDelivery {
  return transport === 'cookie' ? cookieDelivery(tokens, nowMs) : bearerDelivery(tokens);
}
