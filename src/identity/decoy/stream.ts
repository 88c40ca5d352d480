/**
 * The live fleet stream a decoy sees: the real stream's framing and event
 * names (`summary` on connect and with each heartbeat, `machine` with a list
 * row as machines report), fabricated from the decoy's own machines at the
 * pace their report intervals give. It ends when the session does: logout,
 * revocation or idle expiry.
 */
import { PassThrough, type Readable } from 'node:stream';

export interface DecoyStreamSource {
  /** The decoy's machine rows and summary as its lists show them now. */
  machines(): Record<string, unknown>[];
  summary(): unknown;
  /** False once the session is over. */
  alive(): Promise<boolean>;
}

export interface DecoyStreamTiming {
  heartbeatMs: number;
  /** How often the session is checked, so a logout ends the stream promptly. */
  checkMs: number;
}

const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export class DecoyStreams {
  readonly #open = new Set<() => void>();

  constructor(private readonly timing: DecoyStreamTiming = { heartbeatMs: 15_000, checkMs: 1_000 }) {}

  open(source: DecoyStreamSource, now: () => number): { readable: Readable; close(): void } {
    const stream = new PassThrough();
    const timers: ReturnType<typeof setTimeout>[] = [];
    let turn = 0;
    const close = () => {
      for (const timer of timers) clearTimeout(timer);
      timers.length = 0;
      this.#open.delete(close);
      stream.end();
    };
    this.#open.add(close);
    const later = (ms: number, run: () => void) => {
      const timer = setTimeout(run, ms);
      timer.unref();
      timers.push(timer);
      if (timers.length > 8) timers.shift();
    };
    stream.write(`retry: 5000\n: connected\n\n`);
    stream.write(frame('summary', source.summary()));

    // Each machine reports once per interval; spread over the fleet that is one event every few seconds.
    const nextReport = () => {
      const machines = source.machines().filter((m) => m['status'] !== 'offline' && m['status'] !== 'decommissioned');
      const interval = Number(machines[0]?.['intervalSeconds'] ?? 60) * 1000;
      const gap = interval / Math.max(1, machines.length);
      later(gap * (0.5 + Math.random()), () => {
        const machine = machines[turn++ % Math.max(1, machines.length)];
        if (machine) stream.write(frame('machine', { ...machine, lastSeenAt: now() }));
        nextReport();
      });
    };
    later(800 + Math.random() * 2_000, () => {
      const machine = source.machines()[0];
      if (machine) stream.write(frame('machine', { ...machine, lastSeenAt: now() }));
      nextReport();
    });
    const heartbeat = setInterval(() => stream.write(`: heartbeat\n\n${frame('summary', source.summary())}`), this.timing.heartbeatMs);
    const check = setInterval(() => {
      void source.alive().then(
        (alive) => (alive ? undefined : close()),
        () => close(),
      );
    }, this.timing.checkMs);
    heartbeat.unref();
    check.unref();
    stream.once('close', () => {
      clearInterval(heartbeat);
      clearInterval(check);
    });
    stream.once('finish', () => {
      clearInterval(heartbeat);
      clearInterval(check);
    });
    return { readable: stream, close };
  }

  get openStreams(): number {
    return this.#open.size;
  }

  /** Ends every open stream (at shutdown, so the server can close). */
  closeAll(): void {
    for (const close of [...this.#open]) close();
  }
}
