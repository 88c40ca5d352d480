import type { Role } from './roles.js';
import type { Principal } from './sessions/service.js';

/**
 * What a route requires, declared where the route is registered. The server
 * refuses to boot with a route that declares nothing.
 */
export type RoutePolicy =
  | { auth: 'none' }
  /** An enrolled agent's API key (`Authorization: Bearer fla_…`); see fleet/principal.ts. */
  | { auth: 'agent' }
  | {
      auth: 'user';
      role: Role;
      /** Reachable before the first password change (me, password change, logout). */
      allowDuringPasswordChange?: boolean;
      /** Reachable by an admin who must still enroll a second factor (security.requireMfaForAdmins). */
      allowDuringMfaEnrollment?: boolean;
      /**
       * The handler shows nothing real and changes nothing but the caller's own
       * session (logout, dashboard settings), so a decoy (honey) session runs it too.
       */
      decoySafe?: boolean;
      /**
       * Changes how an account signs in (second factors, passwords, roles): the
       * session must have proved its user within the last five minutes, at
       * login or with POST /api/me/reauth (sessions/step-up.ts).
       */
      stepUp?: boolean;
    };

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: RoutePolicy;
  }
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
