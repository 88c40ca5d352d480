import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { commandError } from '../commands/errors.js';
import { fleetError } from '../fleet/errors.js';
import { identityError } from '../identity/errors.js';
import { itemRouteOf } from '../identity/decoy/reads.js';
import type { HoneyAccounts } from '../identity/honey.js';
import type { SessionService } from '../identity/sessions/service.js';
import type { DomainError } from '../lib/errors.js';
import { exportRows } from '../security/audit/export.js';

/**
 * What a real session gets for an id its list does not hold, per collection:
 * a decoy must get the same 404. A GET route for one item of a collection not
 * named here stops the boot (checkDecoyCollections), so none answers a decoy wrongly.
 */
const NOT_FOUND: Record<string, () => DomainError> = {
  '/api/fleet/machines': () => fleetError('machine_not_found'),
  '/api/admin/agents': () => fleetError('agent_not_found'),
  '/api/admin/enrollment-tokens': () => fleetError('enrollment_token_not_found'),
  '/api/admin/users': () => identityError('user_not_found'),
  '/api/commands': () => commandError('request_not_found'),
};

/** Not JSON: the live stream and the audit file, answered with the real routes' headers. */
const STREAM_ROUTE = '/api/fleet/events';
const EXPORT_ROUTE = '/api/admin/audit/export';

export function checkDecoyCollections(getRoutes: readonly string[]): void {
  const lists = new Set(getRoutes);
  for (const route of getRoutes) {
    const parent = itemRouteOf(route)?.list;
    if (parent && lists.has(parent) && !NOT_FOUND[parent]) throw new Error(`GET ${route}: name the not-found error decoys get (server/decoy-answers.ts)`);
  }
}

/**
 * Answers a decoy session's read, after the route's own input validation, so
 * bad input gets the same 400 as for a real session. It never reaches the handler.
 */
export function answerDecoyRead(honey: HoneyAccounts, sessions: SessionService, route: string): preHandlerHookHandler {
  return async function decoyRead(request: FastifyRequest, reply: FastifyReply) {
    const principal = request.principal;
    if (!principal?.decoy) return;
    const user = honey.userById(principal.userId);
    if (!user) throw identityError('forbidden');
    if (route === STREAM_ROUTE) return sendStream(reply, honey.openStream(user, async () => (await sessions.decoySession(principal.sessionId)) !== null));
    const read = {
      route,
      params: (request.params ?? {}) as Record<string, string>,
      query: (request.query ?? {}) as Record<string, unknown>,
      user,
      sessionId: principal.sessionId,
      amr: principal.amr,
      now: honey.nowMs(),
      session: () => sessions.decoySession(principal.sessionId),
    };
    if (route === EXPORT_ROUTE) return sendExport(reply, read.query['format'] === 'csv' ? 'csv' : 'json', honey.reads.auditRows(read));
    const answer = await honey.reads.answer(read);
    if (answer === undefined) throw identityError('forbidden');
    if ('notFound' in answer) throw (NOT_FOUND[answer.notFound] ?? (() => identityError('forbidden')))();
    return reply.code(200).send(answer.body);
  };
}

function sendStream(reply: FastifyReply, stream: { readable: NodeJS.ReadableStream; close(): void }) {
  reply.raw.once('close', () => stream.close());
  return reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-accel-buffering', 'no')
    .send(stream.readable);
}

function sendExport(reply: FastifyReply, format: 'csv' | 'json', rows: Parameters<typeof exportRows>[1]) {
  return reply
    .code(200)
    .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="flotilla-audit.${format}"`)
    .send(Readable.from(exportRows(format, rows)));
}
