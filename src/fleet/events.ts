import { PassThrough, type Readable } from 'node:stream';
import type { Clock } from '../lib/clock.js';
import type { Kv, Unsubscribe } from '../store/kv/kv.js';
import type { FleetLog } from './log.js';
import type { MachineService } from './machines.js';
import { StreamRegistry, type StreamLimits, type StreamOwner } from './stream-registry.js';

/** KV channel of live fleet events; through Redis in cluster mode, so every node's dashboards see every ingest. */
export const EVENTS_CHANNEL = 'fleet:events';
export const HEARTBEAT_MS = 15_000;
/** How often every open stream's session and token are checked again; revocation must reach a stream within 2 s. */
export const REVALIDATE_MS = 1000;
/** A client this far behind is dropped (it reconnects); its backlog must not grow without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** Why the server ended a stream, sent as a last `end` event. */
export type StreamEndReason = 'revoked' | 'expired';

/** Answers, for many owners at once, whether their session and access token still stand (identity's SessionService). */
export interface StreamAuthority {
  stillValid(owners: readonly StreamOwner[]): Promise<boolean[]>;
}

export interface EventStream {
  readable: Readable;
  close(): void;
}

interface BusMessage {
  event: 'machine';
  data: Record<string, unknown>;
}

function isBusMessage(value: unknown): value is BusMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return m.event === 'machine' && typeof m.data === 'object' && m.data !== null && !Array.isArray(m.data);
}

/** One server-sent event; JSON never holds a raw line break, so `data` stays one line. */
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export interface FleetEventsDeps {
  kv: Kv;
  machines: MachineService;
  log: FleetLog;
  clock: Clock;
  authority: StreamAuthority;
  limits: StreamLimits;
  heartbeatMs?: number;
  revalidateMs?: number;
}

/**
 * Live fleet events for dashboards (`GET /api/fleet/events`): a `machine`
 * event (list-row shape) after each ingest, on every node, and a `summary`
 * event with a heartbeat comment every 15 s. Ingest publishes through the KV
 * in both modes, so one code path serves the embedded and the cluster case.
 *
 * A stream is authorised once, when it opens; it must not outlive that
 * authorisation. Every second one batched KV read re-checks the session and
 * token of every open stream (O(open streams), never O(users)), idle timeout
 * included: that is what makes a revocation made on any node, or by a node
 * that has since died, reach this one, with no delivery guarantee needed
 * from pub/sub. This
 * node's own revocations close their streams at once (`endSessions`,
 * `endTokens`). A stream also ends when its access token expires; the
 * dashboard then reconnects with the token it has renewed meanwhile.
 */
export class FleetEvents {
  private readonly registry: StreamRegistry<PassThrough>;
  private unsubscribe: Unsubscribe | null = null;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private revalidating = false;

  constructor(private readonly deps: FleetEventsDeps) {
    this.registry = new StreamRegistry(deps.limits);
  }

  async start(): Promise<void> {
    if (this.unsubscribe) return;
    this.unsubscribe = await this.deps.kv.subscribe(EVENTS_CHANNEL, (message) => this.deliver(message));
    this.timers = [
      setInterval(() => void this.heartbeat(), this.deps.heartbeatMs ?? HEARTBEAT_MS),
      setInterval(() => void this.revalidate(), this.deps.revalidateMs ?? REVALIDATE_MS),
    ];
    for (const timer of this.timers) timer.unref();
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.closeStreams();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    await unsubscribe?.().catch(() => undefined);
  }

  /** Ends every open stream (at shutdown, so the server can close). */
  closeStreams(): void {
    for (const stream of [...this.registry.streams()]) this.drop(stream);
  }

  get openStreams(): number {
    return this.registry.size;
  }

  /** Publishes a machine's list row after its report committed. Never throws: the report is already stored. */
  async machineChanged(machineId: string): Promise<void> {
    // Nobody to tell: no dashboard here, and no other node to publish to. Spares two reads per report.
    if (!this.deps.kv.shared && this.registry.size === 0) return;
    try {
      const row = await this.deps.machines.row(machineId);
      if (row) await this.deps.kv.publish(EVENTS_CHANNEL, JSON.stringify({ event: 'machine', data: row }));
    } catch (err) {
      this.deps.log.warn({ err }, 'fleet event not published');
    }
  }

  /** Opens a stream for an authenticated owner; throws the cap's error (429, or 503 for the node) when over one. */
  open(owner: StreamOwner): EventStream {
    const stream = new PassThrough();
    this.registry.add(stream, owner);
    stream.write(`retry: 5000\n: connected\n\n`);
    void this.summary().then((text) => {
      if (text && this.registry.has(stream)) stream.write(text);
    });
    return { readable: stream, close: () => this.drop(stream) };
  }

  /** Ends the streams of sessions this node just revoked, without waiting for the next check. */
  endSessions(sessionIds: readonly string[]): void {
    const ended = new Set(sessionIds);
    for (const [stream, owner] of this.registry.entries()) if (ended.has(owner.sessionId)) this.end(stream, 'revoked');
  }

  /** Ends the streams opened with access tokens this node just revoked. */
  endTokens(tokenIds: readonly string[]): void {
    const ended = new Set(tokenIds);
    for (const [stream, owner] of this.registry.entries()) if (ended.has(owner.tokenId)) this.end(stream, 'revoked');
  }

  private async revalidate(): Promise<void> {
    if (this.revalidating || this.registry.size === 0) return;
    this.revalidating = true;
    try {
      const now = this.deps.clock.nowMs();
      const live: Array<[PassThrough, StreamOwner]> = [];
      for (const [stream, owner] of this.registry.entries()) {
        if (owner.expiresAt <= now) this.end(stream, 'expired');
        else live.push([stream, owner]);
      }
      if (live.length === 0) return;
      let valid: boolean[];
      try {
        valid = await this.deps.authority.stillValid(live.map(([, owner]) => owner));
      } catch (err) {
        // Fail closed: a stream whose revocation cannot be checked ends; the client reconnects, and authenticates again.
        this.deps.log.warn({ err }, 'live event streams ended: session check failed');
        valid = [];
      }
      live.forEach(([stream], i) => {
        if (valid[i] !== true) this.end(stream, 'revoked');
      });
    } finally {
      this.revalidating = false;
    }
  }

  /** Tells the client why, then ends the response; EventSource reconnects, and authenticates again. */
  private end(stream: PassThrough, reason: StreamEndReason): void {
    if (!this.registry.has(stream)) return;
    stream.write(frame('end', { reason }));
    this.drop(stream);
  }

  private drop(stream: PassThrough): void {
    this.registry.remove(stream);
    stream.end();
  }

  private deliver(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (!isBusMessage(parsed)) return;
    this.broadcast(frame('machine', parsed.data));
  }

  private broadcast(text: string): void {
    for (const stream of [...this.registry.streams()]) {
      if (stream.writableLength > MAX_BUFFERED_BYTES) {
        this.drop(stream);
        continue;
      }
      stream.write(text);
    }
  }

  private async summary(): Promise<string | null> {
    try {
      return frame('summary', await this.deps.machines.summary());
    } catch (err) {
      this.deps.log.warn({ err }, 'fleet summary failed');
      return null;
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.registry.size === 0) return;
    const summary = await this.summary();
    this.broadcast(`: heartbeat\n\n${summary ?? ''}`);
  }
}
