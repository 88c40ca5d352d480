import { Type, type Static } from 'typebox';

/**
 * What a route requires, declared once in its `config.policy` and read by
 * every layer: the perimeter (rate limits), the server (authentication, role,
 * scope, CSRF, gates) and security (what it counts and audits). It lives here,
 * below the domains, so each of them reads the same typed declaration.
 */

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const RoleSchema = Type.Enum(ROLES);
export type Role = Static<typeof RoleSchema>;

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Whether `role` is at least `required` (admin > operator > viewer). */
export function roleAllows(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}

/**
 * The API scopes a user route belongs to. A session holds all of them; a
 * credential with fewer (an API token) reaches only the routes of its scopes.
 */
export const SCOPES = [
  /** The caller's own account: profile, password, sessions, second factors, dashboard settings. */
  'account',
  /** Reading machines, their history, tags and live events. */
  'fleet:read',
  /** Changing machines (tags). */
  'fleet:write',
  /** Managing users. */
  'users:admin',
  /** Enrollment tokens and agents: enroll, rotate, revoke, decommission. */
  'agents:admin',
  /** Reading, verifying and exporting the audit log and security events. */
  'audit:read',
  /** Perimeter controls: IP blocks. */
  'security:admin',
  /** Reading remote commands, their states and (operators) outputs. */
  'commands:read',
  /** Requesting and cancelling remote commands. */
  'commands:run',
  /** Approving or rejecting another person's command request. */
  'commands:approve',
] as const;
export type Scope = (typeof SCOPES)[number];

/** The per-IP failed-login limit (perimeter.rateLimit.login); any other name is a key of perimeter.rateLimit.endpoints. */
export type RateLimitName = 'login' | (string & {});

interface CommonPolicy {
  /** A named limit on top of the per-IP one; an unknown name stops the boot. */
  rateLimit?: RateLimitName;
}

export interface OpenPolicy extends CommonPolicy {
  auth: 'none';
}

/** An enrolled agent's API key (`Authorization: Bearer fla_…`); see fleet/principal.ts. */
export interface AgentPolicy extends CommonPolicy {
  auth: 'agent';
}

/** A scraper: the bearer `metrics.token`, or an address on the admin IP allowlist. */
export interface MetricsPolicy extends CommonPolicy {
  auth: 'metrics';
}

/**
 * A signed-in user's access token, sent as the access cookie or as
 * `Authorization: Bearer`. `credentials: 'bearer'` refuses the cookie form.
 */
export interface UserPolicy extends CommonPolicy {
  auth: 'user';
  role: Role;
  scope: Scope;
  /** Which forms of the access token the route takes (default 'any'). */
  credentials?: 'any' | 'bearer';
  /**
   * A cookie-authenticated unsafe method must carry the CSRF header (default
   * 'required'). Opting out names its reason, which the route catalog shows.
   */
  csrf?: 'required' | { exempt: string };
  /** What the route acts on: the resourceType of its admin_request audit entry. Admin changes must name it. */
  resource?: string;
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
   * login or with POST /api/me/reauth.
   */
  stepUp?: boolean;
}

export type RoutePolicy = OpenPolicy | AgentPolicy | MetricsPolicy | UserPolicy;
export type AuthKind = RoutePolicy['auth'];

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: RoutePolicy;
  }
}
