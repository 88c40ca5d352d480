import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { ensurePrivateDir, writePrivateFile } from './files.js';

/** One queued report: `id` orders the queue, `collectedAt` ages it. */
export interface SpoolEntry<T> {
  id: number;
  collectedAt: number;
  bytes: number;
  item: T;
}

export interface SpoolLimits {
  /** Entries collected longer ago than this are dropped (default 24 h). */
  maxAgeMs: number;
  /** Total size bound; the oldest entries go first (default 50 MB). */
  maxBytes: number;
}

export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxAgeMs: 24 * 3_600_000, maxBytes: 50 * 1024 * 1024 };

/** Counts of entries the bounds threw away, for the agent's log. */
export interface SpoolDrops {
  expired: number;
  overflow: number;
}

/** A bounded FIFO of reports waiting to be sent. */
export interface ReportSpool<T> {
  readonly length: number;
  readonly bytes: number;
  push(item: T, collectedAt: number): Promise<SpoolDrops>;
  /** Up to `max` oldest entries (after dropping expired ones), in order. */
  head(max: number): Promise<Array<SpoolEntry<T>>>;
  remove(ids: readonly number[]): Promise<void>;
}

interface IndexEntry {
  id: number;
  collectedAt: number;
  bytes: number;
}

/** Ordering, bounds and accounting shared by the disk and memory spools. */
abstract class BoundedSpool<T> implements ReportSpool<T> {
  protected index: IndexEntry[] = [];
  protected total = 0;
  protected nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    protected readonly clock: Clock,
    protected readonly limits: SpoolLimits,
  ) {}

  get length(): number {
    return this.index.length;
  }

  get bytes(): number {
    return this.total;
  }

  protected abstract store(entry: IndexEntry, encoded: string): Promise<void>;
  protected abstract load(entry: IndexEntry): Promise<T | null>;
  protected abstract discard(entry: IndexEntry): Promise<void>;

  push(item: T, collectedAt: number): Promise<SpoolDrops> {
    return this.exclusive(async () => {
      const encoded = JSON.stringify(item);
      const bytes = Buffer.byteLength(encoded, 'utf8');
      if (bytes > this.limits.maxBytes) throw new RangeError(`a report of ${bytes} bytes cannot fit a spool of ${this.limits.maxBytes} bytes`);
      const drops: SpoolDrops = { expired: await this.dropExpired(), overflow: 0 };
      while (this.total + bytes > this.limits.maxBytes && this.index[0]) {
        await this.removeNow([this.index[0].id]);
        drops.overflow++;
      }
      const entry: IndexEntry = { id: this.nextId++, collectedAt: Math.max(0, Math.trunc(collectedAt)), bytes };
      await this.store(entry, encoded);
      this.index.push(entry);
      this.total += bytes;
      return drops;
    });
  }

  head(max: number): Promise<Array<SpoolEntry<T>>> {
    return this.exclusive(async () => {
      await this.dropExpired();
      const out: Array<SpoolEntry<T>> = [];
      for (const entry of this.index.slice(0, max)) {
        const item = await this.load(entry);
        if (item === null) {
          // Unreadable (damaged by a crash or by hand): skip it for good.
          await this.removeNow([entry.id]);
          continue;
        }
        out.push({ ...entry, item });
      }
      return out;
    });
  }

  remove(ids: readonly number[]): Promise<void> {
    return this.exclusive(() => this.removeNow(ids));
  }

  /** The collector pushes while the sender reads and removes: one operation at a time. */
  protected exclusive<R>(op: () => Promise<R>): Promise<R> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  protected async removeNow(ids: readonly number[]): Promise<void> {
    const gone = new Set(ids);
    const removed = this.index.filter((e) => gone.has(e.id));
    this.index = this.index.filter((e) => !gone.has(e.id));
    for (const entry of removed) {
      this.total -= entry.bytes;
      await this.discard(entry);
    }
  }

  protected async dropExpired(): Promise<number> {
    const cutoff = this.clock.nowMs() - this.limits.maxAgeMs;
    const expired = this.index.filter((e) => e.collectedAt < cutoff).map((e) => e.id);
    if (expired.length > 0) await this.removeNow(expired);
    return expired.length;
  }
}

/** Keeps reports in memory only; for simulated agents. */
export class MemorySpool<T> extends BoundedSpool<T> {
  readonly #items = new Map<number, string>();

  constructor(clock: Clock, limits: SpoolLimits = DEFAULT_SPOOL_LIMITS) {
    super(clock, limits);
  }

  protected async store(entry: IndexEntry, encoded: string): Promise<void> {
    this.#items.set(entry.id, encoded);
  }
  protected async load(entry: IndexEntry): Promise<T | null> {
    const text = this.#items.get(entry.id);
    return text === undefined ? null : (JSON.parse(text) as T);
  }
  protected async discard(entry: IndexEntry): Promise<void> {
    this.#items.delete(entry.id);
  }
}

// `<id, 16 digits>-<collectedAt>.json`: sorting names sorts by id, and the age is
// known without opening the file.
const ENTRY_NAME = /^(\d{16})-(\d{1,16})\.json$/;

/**
 * One 0600 file per report in a 0700 directory. Files are written through a
 * rename, so a crash leaves whole entries only; on restart the directory is
 * the queue, replayed in id order.
 */
export class FileSpool<T> extends BoundedSpool<T> {
  private constructor(
    readonly dir: string,
    clock: Clock,
    limits: SpoolLimits,
  ) {
    super(clock, limits);
  }

  static async open<T>(dir: string, clock: Clock, limits: SpoolLimits = DEFAULT_SPOOL_LIMITS): Promise<FileSpool<T>> {
    const spool = new FileSpool<T>(dir, clock, limits);
    await ensurePrivateDir(dir);
    await spool.#scan();
    return spool;
  }

  async #scan(): Promise<void> {
    const names = (await readdir(this.dir)).sort();
    for (const name of names) {
      const match = ENTRY_NAME.exec(name);
      if (!match) {
        // Leftover temporary file of an interrupted write.
        if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
        continue;
      }
      const info = await stat(join(this.dir, name)).catch(() => null);
      if (!info?.isFile()) continue;
      const entry = { id: Number(match[1]), collectedAt: Number(match[2]), bytes: info.size };
      this.index.push(entry);
      this.total += entry.bytes;
      this.nextId = Math.max(this.nextId, entry.id + 1);
    }
    // Bounds may have been lowered since the last run.
    await this.dropExpired();
    while (this.total > this.limits.maxBytes && this.index[0]) await this.removeNow([this.index[0].id]);
  }

  #path(entry: IndexEntry): string {
    return join(this.dir, `${String(entry.id).padStart(16, '0')}-${entry.collectedAt}.json`);
  }

  protected async store(entry: IndexEntry, encoded: string): Promise<void> {
    await writePrivateFile(this.#path(entry), encoded);
  }
  protected async load(entry: IndexEntry): Promise<T | null> {
    try {
      return JSON.parse(await readFile(this.#path(entry), 'utf8')) as T;
    } catch {
      return null;
    }
  }
  protected async discard(entry: IndexEntry): Promise<void> {
    await rm(this.#path(entry), { force: true });
  }
}
