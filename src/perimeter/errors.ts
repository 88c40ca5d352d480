import { errorFactory, type ErrorTable } from '../lib/errors.js';

/** The perimeter's refusals: stable codes, statuses and messages safe for any client. */
export const perimeterErrors = {
  rate_limited: { status: 429, message: 'too many requests; try again later' },
  // Fail closed: a limiter or block list that cannot be read refuses rather than waves through.
  limiter_unavailable: { status: 503, message: 'a security check is unavailable; try again shortly' },
  ip_blocked: { status: 403, message: 'requests from your address are blocked for a while' },
  ip_not_allowed: { status: 403, message: 'your address may not use this' },
  geo_blocked: { status: 403, message: 'requests from your location are not accepted' },
  // Same body as the app's own unknown-route answer, so a hidden route looks like no route at all.
  not_found: { status: 404, message: 'no such route' },
  invalid_ip: { status: 400, message: 'not a valid IP address or /64 prefix' },
  block_not_found: { status: 404, message: 'that address is not blocked' },
} as const satisfies ErrorTable;

export const perimeterError = errorFactory(perimeterErrors);
