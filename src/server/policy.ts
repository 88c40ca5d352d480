import type { FastifyInstance, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { AgentAuthenticator } from '../fleet/principal.js';
import { identityError } from '../identity/errors.js';
import { csrfTokenValid } from '../identity/csrf.js';
import { ACCESS_COOKIE, CSRF_HEADER, type RoutePolicy } from '../identity/policy.js';
import { roleAllows } from '../identity/roles.js';
import type { SessionService } from '../identity/sessions/service.js';
import { ErrorSchema } from './schemas.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface PolicyDeps {
  sessions: SessionService;
  csrfKey: Uint8Array;
  /** Needed once a route declares `auth: 'agent'`. */
  agents?: AgentAuthenticator;
  /** Admins without a second factor in their session may only enroll one (security.requireMfaForAdmins). */
  requireMfaForAdmins?: boolean;
  /** Answers a honey-account (decoy) session's GETs with fabricated data (identity/honey.ts). */
  decoys?: { respond(url: string, schema: unknown, userId: string): unknown };
}

/** The route facts a decoy answer needs: its URL and its success schema. */
interface RouteShape {
  url: string;
  successSchema: unknown;
}

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(header);
  return match?.[1] ?? null;
}

/**
 * Agent routes, in two steps. A request with no Authorization header is
 * refused at once. The key itself is checked after the body is parsed and
 * matched to the route's schema, so malformed input gets the same clear 4xx
 * on every route (DESIGN.md §11) and never costs a key lookup. Every failure
 * is the one 401 `unauthorized` body.
 */
function requireAgentHeader(): onRequestHookHandler {
  return async function checkAgentHeader(request) {
    if (request.headers.authorization === undefined) throw identityError('unauthorized');
  };
}

function authenticateAgent(agents: AgentAuthenticator): preHandlerHookHandler {
  return async function checkAgentKey(request) {
    request.agent = await agents.authenticate(bearerOf(request));
  };
}

/** Builds the onRequest check for one declared user or open policy. */
function enforce(policy: Exclude<RoutePolicy, { auth: 'agent' }>, deps: PolicyDeps, shape: RouteShape): onRequestHookHandler {
  return async function checkPolicy(request, reply) {
    if (policy.auth === 'none') return;
    const bearer = bearerOf(request);
    const cookie = bearer === null ? request.cookies[ACCESS_COOKIE] : undefined;
    const token = bearer ?? cookie;
    if (!token) throw identityError('unauthorized');
    const principal = await deps.sessions.authenticate(token);
    // Browsers attach cookies on their own, so a cookie-authenticated change must prove it came from our page.
    if (cookie !== undefined && !SAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER];
      if (!csrfTokenValid(deps.csrfKey, principal.sessionId, typeof presented === 'string' ? presented : undefined)) throw identityError('csrf_failed');
    }
    request.principal = principal;
    // A decoy changes nothing and reads only fabrications; it never reaches a handler.
    if (principal.decoy) {
      const body = SAFE_METHODS.has(request.method) ? deps.decoys?.respond(shape.url, shape.successSchema, principal.userId) : undefined;
      if (body === undefined) throw identityError('forbidden');
      return reply.code(200).send(body);
    }
    if (principal.passwordChangeRequired && !policy.allowDuringPasswordChange) throw identityError('password_change_required');
    if (deps.requireMfaForAdmins && principal.role === 'admin' && !principal.amr.includes('mfa') && !policy.allowDuringMfaEnrollment) {
      throw identityError('mfa_enrollment_required');
    }
    if (!roleAllows(principal.role, policy.role)) throw identityError('forbidden');
    if (policy.stepUp && !(await deps.sessions.stepUp.isFresh(principal.sessionId))) throw identityError('reauthentication_required');
  };
}

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * Every route declares its policy in `config.policy`; a route without one
 * stops the boot. Every route also gets the shared error schema for 4xx/5xx so
 * no error body leaves unserialized.
 */
export interface RouteEntry {
  method: string;
  url: string;
  policy: RoutePolicy;
  hasResponseSchema: boolean;
}

export function installRoutePolicy(app: FastifyInstance, deps: PolicyDeps): RouteEntry[] {
  const catalog: RouteEntry[] = [];
  app.decorateRequest('principal', null);
  app.decorateRequest('agent', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    const policy = route.config?.policy;
    if (!policy) throw new Error(`${String(route.method)} ${route.url}: route declares no policy`);
    for (const method of asArray(route.method)) {
      catalog.push({ method: String(method), url: route.url, policy, hasResponseSchema: Boolean(route.schema?.response) });
    }
    if (policy.auth === 'agent') {
      if (!deps.agents) throw new Error(`${String(route.method)} ${route.url}: agent routes need an agent authenticator`);
      route.onRequest = [...asArray(route.onRequest), requireAgentHeader()];
      route.preHandler = [authenticateAgent(deps.agents), ...asArray(route.preHandler)];
    } else {
      const success = (route.schema?.response ?? {}) as Record<string, unknown>;
      route.onRequest = [...asArray(route.onRequest), enforce(policy, deps, { url: route.url, successSchema: success['200'] ?? success['201'] })];
    }
    if (route.schema) {
      const response = (route.schema.response ?? {}) as Record<string, unknown>;
      response['4xx'] ??= ErrorSchema;
      response['5xx'] ??= ErrorSchema;
      route.schema.response = response;
    }
  });
  return catalog;
}
