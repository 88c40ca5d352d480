import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { commonError } from '../lib/errors.js';

/**
 * How much of an unread body is read and thrown away so the client gets to
 * read our answer. Beyond this (or after DRAIN_TIMEOUT_MS) the connection is
 * closed instead: nobody is owed unbounded free upload bandwidth.
 */
export const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Reads and discards what is left of a request body. `drained` is false when
 * it was cut off at the byte or time bound; `bytes` is how much was thrown away.
 */
function discardBody(req: IncomingMessage): Promise<{ drained: boolean; bytes: number }> {
  if (req.complete || req.readableEnded || req.destroyed) return Promise.resolve({ drained: true, bytes: 0 });
  return new Promise((resolve) => {
    let discarded = 0;
    const finish = (drained: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onEnd);
      if (!drained) req.pause();
      resolve({ drained, bytes: discarded });
    };
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DRAIN_LIMIT_BYTES) finish(false);
    };
    const onEnd = () => finish(true);
    const timer = setTimeout(() => finish(false), DRAIN_TIMEOUT_MS);
    timer.unref();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onEnd);
    req.resume();
  });
}

/**
 * Oversized bodies get a 413 the client can read, on every route.
 *
 * A declared Content-Length over the route's limit is refused before the
 * route's own checks run (authentication included), so the answer does not
 * depend on which check comes first; a chunked body is measured by the
 * parser as it is read, or, when an earlier check answered first, while it
 * is drained. Any answer sent while part of the body is still
 * unread (that 413, a 401 for a missing key, a perimeter refusal) first
 * drains the rest: answering and closing mid-upload resets the connection,
 * and a client still writing never sees the answer (EPIPE).
 *
 * Register after the perimeter, so blocks and rate limits still come first.
 */
export function installBodyLimit(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const declared = request.headers['content-length'];
    if (declared === undefined) return;
    if (Number(declared) > request.routeOptions.bodyLimit) throw commonError('payload_too_large');
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const { drained, bytes } = await discardBody(request.raw);
    if (!drained) reply.header('connection', 'close');
    // A refusal answered before an undeclared (chunked) body was read: the body turned out too large, so say that,
    // as a declared length would have. A success never has an unread body to measure.
    if (reply.statusCode >= 400 && bytes > request.routeOptions.bodyLimit) {
      const error = commonError('payload_too_large');
      reply.code(413).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({ error: { code: error.code, message: error.message } });
    }
    return payload;
  });
}
