import type { FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '../lib/errors.js';
import { isAdminListenerRequest } from './admin-listener.js';
import { isAdminPath } from './allowlist.js';
import { perimeterError } from './errors.js';
import { isNoStorePath } from './headers.js';
import { subjectOf } from '../protocol/ip.js';
import type { RateLimitName } from '../protocol/route-policy.js';
import type { LoginSlot } from './login-throttle.js';
import type { Perimeter } from './module.js';
import { rateLimitHeaders, type RateRule, type RateUsage } from './rate-limit.js';
import type { RefusalReason } from './stats.js';
import { bearerToken } from '../lib/bearer.js';
import { parseToken } from '../lib/secret-token.js';
import { AGENT_KEY_PREFIX } from '../protocol/agent-key.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The perimeter's controls and counters (stats for metrics, blocks for admins). */
    perimeter: Perimeter;
  }
}

/** Probes must report the Kv's state, not be refused by it: no Kv-backed check runs on them. */
const PROBES = new Set(['/healthz', '/readyz']);
/**
 * Hashed, immutable dashboard files: a page load fetches several and browsers
 * cache them for a year, so they do not spend the per-IP API budget (blocks
 * and the scanner still apply).
 */
const STATIC_ASSETS = '/assets/*';
const BUILT_IN_LIMITS = new Set(['ip', 'user', 'agent', 'login']);

interface RequestState {
  ip: string;
  usages: RateUsage[];
  preflight: boolean;
  loginSlot: LoginSlot | null;
}

const states = new WeakMap<FastifyRequest, RequestState>();
const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const pathOf = (url: string) => {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
};

function appendVary(reply: FastifyReply, value: string): void {
  const existing = reply.getHeader('vary');
  const list = typeof existing === 'string' ? existing.split(',').map((v) => v.trim()) : [];
  if (!list.some((v) => v.toLowerCase() === value.toLowerCase())) reply.header('vary', [...list.filter((v) => v !== ''), value].join(', '));
}

/**
 * The perimeter (docs/architecture.md) as root hooks, before any route runs:
 * client IP, admin listener and allowlist, GeoIP, scanner blocks, rate limits
 * and CORS preflights on the way in; security, CORS and RateLimit headers and
 * scanner counting on the way out, for every response including errors.
 */
export const perimeterPlugin = fp<{ perimeter: Perimeter }>(
  async (app, { perimeter }) => {
    const { config, stats } = perimeter;
    const limits = config.rateLimit;
    for (const name of Object.keys(limits.endpoints)) {
      if (BUILT_IN_LIMITS.has(name)) throw new Error(`perimeter.rateLimit.endpoints: "${name}" is a built-in limit name`);
    }
    app.decorate('perimeter', perimeter);

    const refuse = (request: FastifyRequest, reason: RefusalReason, error: DomainError, policy?: string): DomainError => {
      stats.record({ type: 'refused', reason, ip: request.ip, path: pathOf(request.url).slice(0, 200), ...(policy ? { policy } : {}) });
      return error;
    };

    const limit = async (request: FastifyRequest, state: RequestState, policy: string, rule: RateRule, key: string): Promise<void> => {
      try {
        await perimeter.limiter.hit(policy, rule, key, (usage) => state.usages.push(usage));
      } catch (err) {
        if (err instanceof DomainError) throw refuse(request, err.code === 'rate_limited' ? 'rate_limited' : 'limiter_unavailable', err, policy);
        throw err;
      }
    };

    const reserveLoginSlot: preHandlerHookHandler = async function reserveLoginSlot(request) {
      const state = states.get(request);
      if (!state) return;
      try {
        state.loginSlot = await perimeter.loginThrottle.reserve(state.ip, (usage) => state.usages.push(usage));
      } catch (err) {
        if (err instanceof DomainError) throw refuse(request, err.code === 'rate_limited' ? 'rate_limited' : 'limiter_unavailable', err, 'login');
        throw err;
      }
      perimeter.loginThrottle.hold(state.loginSlot);
    };

    const finishLoginSlot = async (request: FastifyRequest, success: boolean): Promise<void> => {
      const state = states.get(request);
      const slot = state?.loginSlot;
      if (!state || !slot) return;
      state.loginSlot = null;
      await perimeter.loginThrottle.finish(slot, success);
    };

    // Give the slot back before the answer leaves, so a client's next attempt already sees it.
    const settleLoginSlot: onSendHookHandler = async function settleLoginSlot(request, reply, payload) {
      await finishLoginSlot(request, reply.statusCode < 400);
      return payload;
    };

    app.addHook('onRoute', (route: RouteOptions) => {
      const named: RateLimitName | undefined = route.config?.policy?.rateLimit;
      if (named !== undefined && named !== 'login' && !Object.hasOwn(limits.endpoints, named)) {
        throw new Error(`${String(route.method)} ${route.url}: unknown rate limit "${named}" (define it in perimeter.rateLimit.endpoints)`);
      }
      // Login steps take a failed-login slot per IP before any credential is checked.
      if (named === 'login') {
        route.preHandler = [...asArray(route.preHandler), reserveLoginSlot];
        route.onSend = [...asArray(route.onSend), settleLoginSlot];
      }
    });

    app.addHook('onRequest', async (request, reply) => {
      // Identity, fleet and the logs all read request.ip: make it the resolved client.
      const ip = perimeter.clientIp(request.raw.socket?.remoteAddress, request.headers);
      Object.defineProperty(request, 'ip', { value: ip, enumerable: true, configurable: true });
      const state: RequestState = { ip, usages: [], preflight: false, loginSlot: null };
      states.set(request, state);

      const routeUrl = request.routeOptions.url;
      const admin = isAdminPath(routeUrl, request.url);
      // With an admin listener, the public one acts as if admin routes did not exist.
      if (admin && config.adminListener && !isAdminListenerRequest(request.raw)) {
        throw refuse(request, 'admin_listener_only', perimeterError('not_found'));
      }
      if (admin && perimeter.adminAllowed && !perimeter.adminAllowed(ip)) {
        request.log.warn({ event: 'admin_ip_denied', clientIp: ip, path: pathOf(request.url).slice(0, 200) }, 'admin route refused: address not on the allowlist');
        throw refuse(request, 'admin_ip_not_allowed', perimeterError('ip_not_allowed'));
      }
      if (perimeter.geoBlocked?.(ip)) throw refuse(request, 'geo_blocked', perimeterError('geo_blocked'));
      if (routeUrl !== undefined && PROBES.has(routeUrl)) return;

      const subject = subjectOf(ip);
      let blocked: boolean;
      try {
        blocked = await perimeter.blocks.isBlocked(subject);
      } catch (err) {
        throw refuse(request, 'limiter_unavailable', err instanceof DomainError ? err : perimeterError('limiter_unavailable', { cause: err }));
      }
      if (blocked) throw refuse(request, 'ip_blocked', perimeterError('ip_blocked'));

      const policy = request.routeOptions.config?.policy;
      const agentId = policy?.auth === 'agent' ? parseToken(AGENT_KEY_PREFIX, bearerToken(request.headers.authorization) ?? '')?.id.toLowerCase() : undefined;
      // Agents are limited per agent, not per address: a whole fleet may sit behind one NAT.
      if (agentId) await limit(request, state, 'agent', limits.agent, `agent:${agentId}`);
      else if (routeUrl !== STATIC_ASSETS) await limit(request, state, 'ip', limits.ip, subject);
      const named = policy?.rateLimit;
      const endpointRule = named === undefined || named === 'login' ? undefined : limits.endpoints[named];
      if (named && endpointRule) await limit(request, state, named, endpointRule, subject);

      if (perimeter.cors?.isPreflight(request.method, request.headers)) {
        state.preflight = true;
        reply.code(204).headers(perimeter.cors.preflightHeaders(request.headers));
        return reply.send();
      }
    });

    app.addHook('preHandler', async (request) => {
      const state = states.get(request);
      if (!state || !request.principal) return;
      await limit(request, state, 'user', limits.user, request.principal.userId);
    });

    app.addHook('onSend', async (request, reply, payload) => {
      reply.headers(perimeter.headers);
      const path = pathOf(request.url);
      if (isNoStorePath(path) || reply.statusCode >= 400) reply.header('cache-control', 'no-store');
      const state = states.get(request);
      if (perimeter.cors) {
        appendVary(reply, 'Origin');
        if (!state?.preflight) reply.headers(perimeter.cors.responseHeaders(request.headers));
      }
      // A 429 already names the policy that refused (whichever layer threw it); other answers list every policy counted.
      const refusedBy = reply.statusCode === 429 && reply.hasHeader('ratelimit-policy');
      if (state && state.usages.length > 0 && !refusedBy) reply.headers(rateLimitHeaders(state.usages));
      if (reply.statusCode === 404 || reply.statusCode === 401) {
        const ip = state?.ip ?? perimeter.clientIp(request.raw.socket?.remoteAddress, request.headers);
        try {
          const block = await perimeter.scanner.record(subjectOf(ip), reply.statusCode);
          if (block) {
            // A structured line for log shippers and fail2ban-style tooling.
            request.log.warn({ event: 'ip_blocked', clientIp: block.ip, reason: block.reason, count: block.count, expiresAt: block.expiresAt }, 'ip blocked');
            stats.record({ type: 'ip_blocked', subject: block.ip, trigger: block.reason, count: block.count, expiresAt: block.expiresAt });
          }
        } catch (err) {
          request.log.warn({ err: { message: (err as Error).message } }, 'scanner counting failed');
        }
      }
      return payload;
    });

    // A login request that ends without a response (client gone) still lets go of its slot.
    app.addHook('onResponse', async (request) => finishLoginSlot(request, false));
    app.addHook('onRequestAbort', async (request) => finishLoginSlot(request, false));
  },
  { name: 'flotilla-perimeter', fastify: '5.x' },
);

/**
 * Fastify answers a URL it cannot decode (and two rarer router failures)
 * before any route or hook runs; this gives those answers our error body and
 * the same headers as every other response. Pass as `frameworkErrors`.
 */
export function answerFrameworkError(perimeter: Perimeter) {
  return (error: { code?: string }, _request: FastifyRequest, reply: FastifyReply): void => {
    const [status, code, message] =
      error.code === 'FST_ERR_BAD_URL'
        ? [400, 'invalid_request', 'the request URL could not be parsed']
        : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? [414, 'invalid_request', 'a URL parameter is too long']
          : [500, 'internal', 'internal error'];
    reply
      .code(status)
      .headers({ ...perimeter.headers, 'cache-control': 'no-store' })
      .send({ error: { code, message } });
  };
}
