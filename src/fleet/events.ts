import { PassThrough, type Readable } from 'node:stream';
import type { Kv, Unsubscribe } from '../store/kv/kv.js';
import { fleetError } from './errors.js';
import type { FleetLog } from './log.js';
import type { MachineService } from './machines.js';

/** KV channel of live fleet events; through Redis in cluster mode, so every node's dashboards see every ingest. */
export const EVENTS_CHANNEL = 'fleet:events';
export const HEARTBEAT_MS = 15_000;
const MAX_STREAMS = 1000;
/** A client this far behind is dropped (it reconnects); its backlog must not grow without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

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

/**
 * Live fleet events for dashboards (`GET /api/fleet/events`): a `machine`
 * event (list-row shape) after each ingest, on every node, and a `summary`
 * event with a heartbeat comment every 15 s. Ingest publishes through the KV
 * in both modes, so one code path serves the embedded and the cluster case.
 */
export class FleetEvents {
  private readonly streams = new Set<PassThrough>();
  private unsubscribe: Unsubscribe | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: { kv: Kv; machines: MachineService; log: FleetLog; heartbeatMs?: number }) {}

  async start(): Promise<void> {
    if (this.unsubscribe) return;
    this.unsubscribe = await this.deps.kv.subscribe(EVENTS_CHANNEL, (message) => this.deliver(message));
    this.timer = setInterval(() => void this.heartbeat(), this.deps.heartbeatMs ?? HEARTBEAT_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closeStreams();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    await unsubscribe?.().catch(() => undefined);
  }

  /** Ends every open stream (at shutdown, so the server can close). */
  closeStreams(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Publishes a machine's list row after its report committed. Never throws: the report is already stored. */
  async machineChanged(machineId: string): Promise<void> {
    // Nobody to tell: no dashboard here, and no other node to publish to. Spares two reads per report.
    if (!this.deps.kv.shared && this.streams.size === 0) return;
    try {
      const row = await this.deps.machines.row(machineId);
      if (row) await this.deps.kv.publish(EVENTS_CHANNEL, JSON.stringify({ event: 'machine', data: row }));
    } catch (err) {
      this.deps.log.warn({ err }, 'fleet event not published');
    }
  }

  open(): EventStream {
    if (this.streams.size >= MAX_STREAMS) throw fleetError('too_many_streams');
    const stream = new PassThrough();
    this.streams.add(stream);
    stream.write(`retry: 5000\n: connected\n\n`);
    void this.summary().then((text) => {
      if (text && this.streams.has(stream)) stream.write(text);
    });
    return {
      readable: stream,
      close: () => {
        this.streams.delete(stream);
        stream.end();
      },
    };
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
    for (const stream of this.streams) {
      if (stream.writableLength > MAX_BUFFERED_BYTES) {
        this.streams.delete(stream);
        stream.end();
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
    if (this.streams.size === 0) return;
    const summary = await this.summary();
    this.broadcast(`: heartbeat\n\n${summary ?? ''}`);
  }
}
