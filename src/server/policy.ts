import type { FastifyInstance, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { AgentAuthenticator } from '../fleet/principal.js';
import { identityError } from '../identity/errors.js';
import { csrfTokenValid } from '../identity/csrf.js';
import { ACCESS_COOKIE, CSRF_HEADER } from '../identity/policy.js';
import type { HoneyAccounts } from '../identity/honey.js';
import type { SessionService } from '../identity/sessions/service.js';
import { ROLES, SCOPES, type RoutePolicy, type UserPolicy } from '../protocol/route-policy.js';
import { answerDecoyRead, checkDecoyCollections } from './decoy-answers.js';
import { requireMetricsAccess, type MetricsAccess } from './metrics-access.js';
import { ErrorSchema } from './schemas.js';
import { isSafeMethod, principalRefusal } from './user-access.js';
import { bearerToken } from '../lib/bearer.js';

export interface PolicyDeps {
  sessions: SessionService;
  csrfKey: Uint8Array;
  /** Needed once a route declares `auth: 'agent'`. */
  agents?: AgentAuthenticator;
  /** Admins without a second factor in their session may only enroll one (security.requireMfaForAdmins). */
  requireMfaForAdmins?: boolean;
  /** Answers a honey-account (decoy) session's reads with fabricated data (identity/honey.ts). */
  decoys?: HoneyAccounts;
  /** Needed once a route declares `auth: 'metrics'`. */
  metrics?: MetricsAccess;
}

const bearerOf = (request: FastifyRequest): string | null => bearerToken(request.headers.authorization);

/**
 * Agent routes, in two steps. A request with no Authorization header is
 * refused at once. The key itself is checked after the body is parsed and
 * matched to the route's schema, so malformed input gets the same clear 4xx
 * on every route and never costs a key lookup. Every failure
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

/** Builds the onRequest check for one declared user policy. */
function enforceUser(policy: Required<Pick<UserPolicy, 'credentials' | 'csrf'>> & UserPolicy, deps: PolicyDeps): onRequestHookHandler {
  return async function checkUserPolicy(request) {
    const bearer = bearerOf(request);
    const cookie = bearer === null && policy.credentials === 'any' ? request.cookies[ACCESS_COOKIE] : undefined;
    const token = bearer ?? cookie;
    if (!token) throw identityError('unauthorized');
    const principal = await deps.sessions.authenticate(token, cookie === undefined ? 'bearer' : 'cookie');
    // Browsers attach cookies on their own, so a cookie-authenticated change must prove it came from our page.
    if (cookie !== undefined && !isSafeMethod(request.method) && policy.csrf === 'required') {
      const presented = request.headers[CSRF_HEADER];
      if (!csrfTokenValid(deps.csrfKey, principal.sessionId, typeof presented === 'string' ? presented : undefined)) throw identityError('csrf_failed');
    }
    request.principal = principal;
    const refusal = principalRefusal(policy, principal, request.method, deps);
    if (refusal) throw identityError(refusal);
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
  /** As declared, with the defaults it relies on spelled out (credentials, csrf). */
  policy: RoutePolicy;
  hasResponseSchema: boolean;
}

const AUTH_KINDS = new Set<string>(['none', 'agent', 'metrics', 'user']);

/**
 * Checks one declaration as its route is added, so a route that would be
 * enforced other than it reads stops the boot; answers it with its defaults.
 */
function checkedPolicy(route: RouteOptions): RoutePolicy {
  const where = `${String(route.method)} ${route.url}`;
  const policy = route.config?.policy;
  if (!policy) throw new Error(`${where}: route declares no policy`);
  if (!AUTH_KINDS.has(policy.auth)) throw new Error(`${where}: unknown auth kind "${String(policy.auth)}"`);
  if (policy.auth !== 'user') return policy;
  if (!(ROLES as readonly string[]).includes(policy.role)) throw new Error(`${where}: unknown role "${String(policy.role)}"`);
  if (!(SCOPES as readonly string[]).includes(policy.scope)) throw new Error(`${where}: a user route names its scope (one of ${SCOPES.join(', ')})`);
  const credentials = policy.credentials ?? 'any';
  if (credentials !== 'any' && credentials !== 'bearer') throw new Error(`${where}: unknown credentials "${String(credentials)}"`);
  const csrf = policy.csrf ?? 'required';
  if (csrf !== 'required' && !(typeof csrf === 'object' && typeof csrf.exempt === 'string' && csrf.exempt.trim() !== '')) {
    throw new Error(`${where}: a route exempt from CSRF states why (csrf: { exempt: '<reason>' })`);
  }
  const changes = asArray(route.method).some((method) => !isSafeMethod(String(method)));
  if (policy.role === 'admin' && changes && !policy.resource) throw new Error(`${where}: an admin change names the resource it audits (policy.resource)`);
  return { ...policy, credentials, csrf };
}

export function installRoutePolicy(app: FastifyInstance, deps: PolicyDeps): RouteEntry[] {
  const catalog: RouteEntry[] = [];
  const decoyReads: string[] = [];
  app.decorateRequest('principal', null);
  app.decorateRequest('agent', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    const policy = checkedPolicy(route);
    for (const method of asArray(route.method)) {
      catalog.push({ method: String(method), url: route.url, policy, hasResponseSchema: Boolean(route.schema?.response) });
    }
    if (policy.auth === 'agent') {
      if (!deps.agents) throw new Error(`${String(route.method)} ${route.url}: agent routes need an agent authenticator`);
      route.onRequest = [...asArray(route.onRequest), requireAgentHeader()];
      route.preHandler = [authenticateAgent(deps.agents), ...asArray(route.preHandler)];
    } else if (policy.auth === 'metrics') {
      if (!deps.metrics) throw new Error(`${String(route.method)} ${route.url}: metrics routes need the metrics token settings`);
      route.onRequest = [...asArray(route.onRequest), requireMetricsAccess(deps.metrics)];
    } else if (policy.auth === 'user') {
      route.onRequest = [...asArray(route.onRequest), enforceUser({ credentials: 'any', csrf: 'required', ...policy }, deps)];
      if (deps.decoys && !policy.decoySafe) {
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
