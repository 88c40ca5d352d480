import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
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
}

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(header);
  return match?.[1] ?? null;
}

/** Builds the onRequest check for one declared policy. */
function enforce(policy: RoutePolicy, deps: PolicyDeps): onRequestHookHandler {
  return async function checkPolicy(request) {
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
    if (principal.passwordChangeRequired && !policy.allowDuringPasswordChange) throw identityError('password_change_required');
    if (!roleAllows(principal.role, policy.role)) throw identityError('forbidden');
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
  app.addHook('onRoute', (route: RouteOptions) => {
    const policy = route.config?.policy;
    if (!policy) throw new Error(`${String(route.method)} ${route.url}: route declares no policy`);
    for (const method of asArray(route.method)) {
      catalog.push({ method: String(method), url: route.url, policy, hasResponseSchema: Boolean(route.schema?.response) });
    }
    route.onRequest = [...asArray(route.onRequest), enforce(policy, deps)];
    if (route.schema) {
      const response = (route.schema.response ?? {}) as Record<string, unknown>;
      response['4xx'] ??= ErrorSchema;
      response['5xx'] ??= ErrorSchema;
      route.schema.response = response;
    }
  });
  return catalog;
}
