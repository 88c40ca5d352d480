import type { Principal } from './sessions/service.js';

// The declaration itself lives below the domains, so the perimeter reads the same type.
export type { RoutePolicy, Scope, UserPolicy } from '../protocol/route-policy.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export const ACCESS_COOKIE = '__Host-flotilla_access';
/** Path-scoped to /api/auth, so it cannot take the __Host- prefix (which requires Path=/). */
export const REFRESH_COOKIE = '__Secure-flotilla_refresh';
export const REFRESH_COOKIE_PATH = '/api/auth';
export const CSRF_COOKIE = 'flotilla_csrf';
export const CSRF_HEADER = 'x-csrf-token';
