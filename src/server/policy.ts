import type { FastifyInstance, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { AgentAuthenticator } from '../fleet/principal.js';
import { identityError } from '../identity/errors.js';
import { csrfTokenValid } from '../identity/csrf.js';
import { ACCESS_COOKIE, CSRF_HEADER, type RoutePolicy } from '../identity/policy.js';
import { roleAllows } from '../identity/roles.js';
import type { HoneyAccounts } from '../identity/honey.js';
import type { SessionService } from '../identity/sessions/service.js';
import { answerDecoyRead, checkDecoyCollections } from './decoy-answers.js';
import { ErrorSchema } from './schemas.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface PolicyDeps {
  sessions: SessionService;
  csrfKey: Uint8Array;
  /** Needed once a route declares `auth: 'agent'`. */
  agents?: AgentAuthenticator;
  /** Admins without a second factor in their session may only enroll one (security.requireMfaForAdmins). */
  requireMfaForAdmins?: boolean;
  /** Answers a honey-account (decoy) session's reads with fabricated data (identity/honey.ts). */
  decoys?: HoneyAccounts;
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
function enforce(policy: Exclude<RoutePolicy, { auth: 'agent' }>, deps: PolicyDeps): onRequestHookHandler {
  return async function checkPolicy(request) {
    if (policy.auth === 'none') return;
    const bearer = bearerOf(request);
    const cookie = bearer === null ? request.cookies[ACCESS_COOKIE] : undefined;
    const token = bearer ?? cookie;
    if (!token) throw identityError('unauthorized');
    const principal = await deps.sessions.authenticate(token, cookie === undefined ? 'bearer' : 'cookie');
    // Browsers attach cookies on their own, so a cookie-authenticated change must prove it came from our page.
    if (cookie !== undefined && !SAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER];
      if (!csrfTokenValid(deps.csrfKey, principal.sessionId, typeof presented === 'string' ? presented : undefined)) throw identityError('csrf_failed');
    }
    request.principal = principal;
    // A decoy changes nothing. Its reads pass the same checks as a real session's, then get fabrications (answerDecoyRead).
    if (principal.decoy && !SAFE_METHODS.has(request.method) && !policy.decoySafe) throw identityError('forbidden');
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
  const decoyReads: string[] = [];
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
      route.onRequest = [...asArray(route.onRequest), enforce(policy, deps)];
      if (policy.auth === 'user' && deps.decoys && !policy.decoySafe) {
        const success = (route.schema?.response ?? {}) as Record<string, unknown>;
        if (asArray(route.method).includes('GET')) {
          deps.decoys.reads.register(route.url, success['200']);
          decoyReads.push(route.url);
        }
        route.preHandler = [answerDecoyRead(deps.decoys, deps.sessions, route.url), ...asArray(route.preHandler)];
      }
    }
    if (route.schema) {
      const response = (route.schema.response ?? {}) as Record<string, unknown>;
      response['4xx'] ??= ErrorSchema;
      response['5xx'] ??= ErrorSchema;
      route.schema.response = response;
    }
  });
  app.addHook('onReady', async () => checkDecoyCollections(decoyReads));
  return catalog;
}
