import type { Clock } from '../lib/clock.js';
import { AgentState, type IdentityStore } from './identity.js';
import { AgentTransport, TransportError, type AgentPoster, type AgentReply } from './transport.js';
import type { ServerTrust } from './trust.js';
import { errorCodeOf, parseEnrollAnswer } from './wire.js';

export const ENROLL_PATH = '/api/agent/enroll';

/** An enrollment that did not happen; the message never contains the token. */
export class EnrollError extends Error {
  /** The HTTP status of a refusal, null when no answer came. */
  readonly status: number | null;
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    options?: { cause?: unknown; status?: number; retryAfterMs?: number | null },
  ) {
    super(message, options);
    this.name = 'EnrollError';
    this.status = options?.status ?? null;
    this.retryAfterMs = options?.retryAfterMs ?? null;
  }
}

export interface EnrollOptions {
  serverUrl: string;
  token: string;
  trust: ServerTrust;
  /** Machine facts as the report schema defines them. */
  facts: unknown;
  store: IdentityStore;
  clock: Clock;
  /** Defaults to a transport of its own, closed afterwards; simulators share one. */
  poster?: AgentPoster;
}

const TOKEN = /^fle_[A-Za-z0-9_-]{1,250}$/;

/**
 * Trades a one-time enrollment token for this machine's identity (docs/protocol.md)
 * and writes it (0600) before returning, so a key the server issued is never
 * held only in memory.
 */
export async function enrollAgent(opts: EnrollOptions): Promise<AgentState> {
  const token = opts.token.trim();
  if (!TOKEN.test(token)) throw new EnrollError('the enrollment token must look like fle_…, as the server printed it');
  const own = opts.poster ? null : new AgentTransport(opts.serverUrl, opts.trust);
  const poster = opts.poster ?? (own as AgentTransport);
  try {
    let reply: AgentReply;
    try {
      reply = await poster.post(ENROLL_PATH, { token, facts: opts.facts });
    } catch (err) {
      if (err instanceof TransportError) throw new EnrollError(`enrollment failed: ${err.message}`, { cause: err });
      throw err;
    }
    if (reply.status !== 201 && reply.status !== 200) {
      throw new EnrollError(refusalMessage(reply.status, errorCodeOf(reply.body)), { status: reply.status, retryAfterMs: reply.retryAfterMs });
    }
    const answer = parseEnrollAnswer(reply.body);
    if (!answer) throw new EnrollError('the server answered the enrollment with an unexpected body; is the URL a Flotilla server?');
    return await AgentState.create(opts.store, {
      format: 1,
      serverUrl: opts.serverUrl,
      agentId: answer.agentId,
      apiKey: answer.apiKey,
      kid: answer.kid,
      sealingKey: answer.sealingKey,
      commandPublicKey: answer.commandPublicKey,
      trust: opts.trust,
      intervalSeconds: answer.intervalSeconds,
      seq: 0,
      resultSeq: 0,
      enrolledAt: Math.trunc(opts.clock.nowMs()),
    });
  } finally {
    own?.close();
  }
}

function refusalMessage(status: number, code: string | null): string {
  if (status === 401 || status === 403) return 'the server refused the enrollment token (unknown, expired, revoked or used up); ask an admin for a new one';
  if (status === 429) return 'the server is rate limiting enrollment; try again in a few minutes';
  if (status === 400) return `the server refused the enrollment request (${code ?? 'bad request'})`;
  if (status === 404) return 'the server has no enrollment endpoint at this URL; is it a Flotilla server?';
  return `enrollment failed: the server answered ${status}${code ? ` (${code})` : ''}`;
}
