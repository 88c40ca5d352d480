import type https from 'node:https';
import WebSocket from 'ws';
import type { AgentLog } from './log.js';
import type { BackoffPolicy } from './sender.js';

export const CHANNEL_PATH = '/api/agent/channel';
/** The server pings every 15 s; silence for longer than two of them means the connection is half-open. */
const SILENCE_MS = 35_000;
/** A connection that lasted this long was healthy: the next failure starts the backoff afresh. */
const HEALTHY_MS = 30_000;
/** Commands frames are bounded by the server's batch of 20; anything far larger is not from it. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

export interface ChannelOptions {
  serverUrl: URL;
  /** The TLS trust of the report transport (CA or pin), fresh per connection. */
  tlsAgent: () => Promise<https.Agent>;
  apiKey: () => string;
  onCommands: (commands: unknown[]) => void;
  log: AgentLog;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  backoff?: BackoffPolicy;
  random?: () => number;
  now?: () => number;
}

/**
 * The agent's persistent channel: one WebSocket to the server over the same
 * TLS trust as the reports, authenticated by the agent key, reopened with
 * exponential backoff and full jitter. Reports keep working without it; it
 * only makes commands arrive at once.
 */
export async function keepChannel(opts: ChannelOptions, signal: AbortSignal): Promise<void> {
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  let failures = 0;
  while (!signal.aborted) {
    const opened = now();
    let reason: string;
    try {
      reason = await connectOnce(opts, signal, () => {
        if (failures > 0) opts.log.info('agent channel open', {});
      });
    } catch (err) {
      reason = err instanceof Error ? err.message.slice(0, 200) : 'unknown';
    }
    if (signal.aborted) return;
    failures = now() - opened >= HEALTHY_MS ? 1 : failures + 1;
    const delay = Math.floor(random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(failures - 1, 30)));
    // Info, not a warning: the report answer still carries commands while the channel is down.
    opts.log.info('agent channel closed; reconnecting', { reason, retryInMs: delay });
    await opts.sleep(delay, signal);
  }
}

/** One connection, from handshake to close; resolves with why it ended. */
async function connectOnce(opts: ChannelOptions, signal: AbortSignal, onOpen: () => void): Promise<string> {
  const agent = await opts.tlsAgent();
  const base = opts.serverUrl.pathname.replace(/\/+$/, '');
  const url = `wss://${opts.serverUrl.host}${base}${CHANNEL_PATH}`;
  return new Promise<string>((resolve) => {
    const ws = new WebSocket(url, { agent, headers: { authorization: `Bearer ${opts.apiKey()}` }, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: 30_000, followRedirects: false });
    let silence: NodeJS.Timeout | null = null;
    const quiet = () => {
      if (silence) clearTimeout(silence);
      silence = setTimeout(() => ws.terminate(), SILENCE_MS);
    };
    const abort = () => ws.terminate();
    signal.addEventListener('abort', abort, { once: true });
    let ended = 'closed';
    ws.on('unexpected-response', (_req, res) => {
      ended = `refused with HTTP ${res.statusCode ?? 0}`;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      quiet();
      onOpen();
    });
    ws.on('ping', quiet);
    ws.on('message', (data, isBinary) => {
      quiet();
      if (isBinary) return;
      let frame: unknown;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      const { type, commands } = (frame ?? {}) as { type?: unknown; commands?: unknown };
      // Each command is checked by the same gate as those of report answers (signature, target, expiry, replay).
      if (type === 'commands' && Array.isArray(commands)) opts.onCommands(commands);
    });
    ws.on('error', (err) => {
      // The first cause wins: terminating a refused upgrade raises an error of its own.
      if (ended === 'closed') ended = err.message.slice(0, 200);
    });
    ws.on('close', (code) => {
      if (silence) clearTimeout(silence);
      signal.removeEventListener('abort', abort);
      agent.destroy();
      resolve(ended === 'closed' ? `closed (${code})` : ended);
    });
  });
}
