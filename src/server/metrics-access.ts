import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { identityError } from '../identity/errors.js';
import { bearerToken } from '../lib/bearer.js';

export interface MetricsAccess {
  /** `metrics.token`; without it (and without an allowlist) every scrape is refused. */
  token?: string;
  /** The perimeter's admin IP allowlist, when configured: a listed scraper needs no token. */
  ipAllowed?: ((ip: string) => boolean) | null;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * The check of an `auth: 'metrics'` route: the bearer `metrics.token` or an
 * allowlisted address. Digests are compared, so the check takes the same time
 * whatever the presented token's length or content.
 */
export function requireMetricsAccess(access: MetricsAccess): onRequestHookHandler {
  const expected = access.token ? digest(access.token) : null;
  const tokenMatches = (request: FastifyRequest): boolean => {
    if (!expected) return false;
    const presented = bearerToken(request.headers.authorization) ?? '';
    return timingSafeEqual(digest(presented), expected);
  };
  return async function checkMetricsAccess(request) {
    if (tokenMatches(request) || access.ipAllowed?.(request.ip)) return;
    throw identityError('unauthorized', { headers: { 'www-authenticate': 'Bearer realm="metrics"' } });
  };
}
