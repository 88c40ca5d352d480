import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentChannels, ChannelSocket } from '../fleet/agent-channels.js';
import { fleetError } from '../fleet/errors.js';
import type { AgentAuthenticator } from '../fleet/principal.js';
import { bearerToken } from '../lib/bearer.js';
import { DomainError } from '../lib/errors.js';
import { parseToken } from '../lib/secret-token.js';
import type { Perimeter } from '../perimeter/module.js';
import { perimeterError } from '../perimeter/errors.js';
import type { RefusalReason } from '../perimeter/stats.js';
import { AGENT_KEY_PREFIX } from '../protocol/agent-key.js';
import { subjectOf } from '../protocol/ip.js';
import { ErrorSchema } from './schemas.js';

export const CHANNEL_PATH = '/api/agent/channel';
/** Upgrades one agent may make in a minute; reconnect backoff stays far below it. */
export const UPGRADES_PER_MINUTE = 12;
/** Agents send nothing but control frames: any data frame above this closes the channel. */
const MAX_MESSAGE_BYTES = 4096;
const HEARTBEAT_MS = 15_000;
const PERIMETER_REFUSALS = new Set<string>(['geo_blocked', 'ip_blocked', 'rate_limited', 'limiter_unavailable']);

export interface ChannelDeps {
  perimeter: Perimeter;
  agents: AgentAuthenticator;
  channels: AgentChannels;
  heartbeatMs?: number;
}

/** A refusal written straight onto the socket, with the uniform error body, before any handshake. */
function refuse(socket: Duplex, err: DomainError, headers: Record<string, string>): void {
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  const lines = [
    `HTTP/1.1 ${err.status} ${err.status === 401 ? 'Unauthorized' : 'Refused'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    'connection: close',
    ...Object.entries({ ...headers, ...err.headers }).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Every check a request to an agent route passes, in the same order, run on
 * the upgrade request before the handshake: address (geo, block list), the
 * per-agent upgrade limit, then the agent key. A failed key counts towards
 * the scanner's block like any 401.
 */
async function admit(deps: ChannelDeps, req: IncomingMessage): Promise<{ agentId: string; bearer: string | null }> {
  const { perimeter } = deps;
  const ip = perimeter.clientIp(req.socket.remoteAddress, req.headers);
  if (perimeter.geoBlocked?.(ip)) throw perimeterError('geo_blocked');
  const subject = subjectOf(ip);
  if (await perimeter.blocks.isBlocked(subject)) throw perimeterError('ip_blocked');
  const bearer = bearerToken(req.headers.authorization);
  const claimed = parseToken(AGENT_KEY_PREFIX, bearer ?? '')?.id.toLowerCase();
  try {
    if (!claimed) throw fleetError('unauthorized');
    await perimeter.limiter.hit('agent_channel', { limit: UPGRADES_PER_MINUTE, windowSeconds: 60 }, `agent:${claimed}`);
    return { agentId: (await deps.agents.authenticate(bearer)).agentId, bearer };
  } catch (err) {
    if (err instanceof DomainError && err.status === 401) await perimeter.scanner.record(subject, 401).catch(() => null);
    throw err;
  }
}

interface Live {
  ws: WebSocket;
  alive: boolean;
}

/**
 * The agent channel on the main HTTPS listener: WebSocket upgrades of
 * CHANNEL_PATH, checked before the handshake, one connection per agent, with
 * a ping every heartbeat so a half-open connection is dropped within two.
 */
export function installAgentChannel(app: FastifyInstance, deps: ChannelDeps): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, clientTracking: false });
  const live = new Set<Live>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== CHANNEL_PATH || req.method !== 'GET') {
      refuse(socket, new DomainError('not_found', { status: 404, message: 'no such route' }), deps.perimeter.headers);
      return;
    }
    admit(deps, req).then(
      ({ agentId, bearer }) => wss.handleUpgrade(req, socket, head, (ws) => open(agentId, bearer, ws)),
      (err: unknown) => {
        const refusal = err instanceof DomainError ? err : perimeterError('limiter_unavailable', { cause: err });
        // Counted like the perimeter's refusals of any other route (metrics, security log).
        if (PERIMETER_REFUSALS.has(refusal.code)) {
          const ip = deps.perimeter.clientIp(req.socket.remoteAddress, req.headers);
          deps.perimeter.stats.record({ type: 'refused', reason: refusal.code as RefusalReason, ip, path: CHANNEL_PATH, ...(refusal.code === 'rate_limited' ? { policy: 'agent_channel' } : {}) });
        }
        refuse(socket, refusal, deps.perimeter.headers);
      },
    );
  };

  const open = (agentId: string, bearer: string | null, ws: WebSocket) => {
    const entry: Live = { ws, alive: true };
    const socket: ChannelSocket = {
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
      keyValid: () =>
        deps.agents.authenticate(bearer).then(
          (principal) => principal.agentId === agentId,
          () => false,
        ),
    };
    live.add(entry);
    ws.on('pong', () => (entry.alive = true));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      live.delete(entry);
      deps.channels.detach(agentId, socket);
    });
    deps.channels.attach(agentId, socket);
  };

  const heartbeat = setInterval(() => {
    for (const entry of live) {
      if (!entry.alive) {
        entry.ws.terminate();
        continue;
      }
      entry.alive = false;
      entry.ws.ping();
    }
  }, deps.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  app.server.on('upgrade', onUpgrade);
  app.addHook('preClose', (done) => {
    clearInterval(heartbeat);
    app.server.off('upgrade', onUpgrade);
    deps.channels.closeAll();
    for (const entry of live) entry.ws.terminate();
    done();
  });
}

/** The channel's plain-HTTP face: a GET without an upgrade learns to upgrade (and the route is in the catalog). */
export const agentChannelRoute: FastifyPluginAsync = async (app) => {
  app.get(CHANNEL_PATH, { schema: { hide: true, response: { 426: ErrorSchema } }, config: { policy: { auth: 'agent' } } }, async (_request, reply) => {
    reply.header('upgrade', 'websocket');
    throw fleetError('upgrade_required');
  });
};
