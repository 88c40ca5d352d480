import type { Clock } from '../../lib/clock.js';
import type { SqlStore } from '../../store/sql/db.js';
import { appendEntries, type PendingEntry } from './chain.js';
import type { HeadPublisher } from './head-publisher.js';

/** Entries linked per transaction: one lock round trip serves a burst of events. */
const BATCH = 200;
/** Waiting entries beyond this are dropped (and counted) rather than growing memory while the database is down. */
const MAX_QUEUED = 10_000;

interface Waiting {
  entry: PendingEntry;
  done: () => void;
}

export interface AuditWriterDeps {
  sql: SqlStore;
  clock: Clock;
  hmacKey: Uint8Array;
  /** Advances the signed head past each batch written. */
  head: HeadPublisher;
  /** An append that failed or was dropped; logged by the caller, never thrown at the request that caused it. */
  onFailure(err: unknown, lost: number): void;
}

/**
 * Appends in the background, one batch at a time. A single drain loop per
 * process is the in-process mutex; the chain lock in the database serializes
 * processes and nodes. An entry's promise settles once it is committed; the
 * signed head follows in the background, the batches committed during one
 * head write sharing the next (flush() waits for it), so a slow fsync of the
 * head never holds appends back.
 */
export class AuditWriter {
  private readonly queue: Waiting[] = [];
  private draining: Promise<void> | null = null;

  constructor(private readonly deps: AuditWriterDeps) {}

  append(entry: PendingEntry): Promise<void> {
    if (this.queue.length >= MAX_QUEUED) {
      this.deps.onFailure(new Error('audit queue full'), 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.queue.push({ entry, done: resolve });
      this.kick();
    });
  }

  /** Resolves once everything queued so far is written (or reported lost) and the head advanced past it. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
    await this.deps.head.idle();
  }

  get pending(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      try {
        const entries = await appendEntries(this.deps.sql, this.deps.hmacKey, batch.map((w) => w.entry), this.deps.clock.nowMs());
        const [first, last] = [entries[0], entries[entries.length - 1]];
        // The batch linked to the entry before its first, as its transaction read it.
        // A missing head is started only by the process that began the chain.
        if (first && last) void this.deps.head.advanceTo(last, { from: { seq: first.seq - 1, hash: first.prevHash }, create: first.seq === 1 });
      } catch (err) {
        this.deps.onFailure(err, batch.length);
      } finally {
        for (const w of batch) w.done();
      }
      // SQLite answers synchronously, so back-to-back batches would run on microtasks alone and
      // starve I/O callbacks (the head's file writes, requests) for as long as the queue refills.
      if (this.queue.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
