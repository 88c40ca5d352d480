import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import { commitsDurable, type SqlStore } from '../../store/sql/db.js';
import type { Database } from '../../store/sql/tables.js';
import type { ChainHead } from './chain.js';
import { markValid, signMark, type SignedMark } from './checkpoints.js';
import type { HeadStore } from './head.js';
import type { AuditKeys } from './keys.js';

export interface HeadPublisherDeps {
  sql: SqlStore;
  keys: AuditKeys;
  clock: Clock;
  store: HeadStore;
  /** The head could not be advanced; reported once per cause, never thrown at an append. */
  onFailure(err: unknown): void;
}

interface Target extends ChainHead {
  /**
   * The entry the appends up to this head linked to, read in their own
   * transactions, when they follow one another; null when another writer's
   * entries (or unknown ones) lie between.
   */
  from: ChainHead | null;
  /** Whether a missing head may be started here (the chain began in this process, or a server adopts it). */
  create: boolean;
}

const sameEntry = (a: ChainHead | null, b: ChainHead): boolean => a !== null && a.seq === b.seq && a.hash === b.hash;

/**
 * Why the database no longer holds the entry a signed head names, or null
 * when it does (or retention cut it behind a signed anchor at or past it).
 */
export async function headProblem(db: Kysely<Database>, keys: AuditKeys, head: SignedMark): Promise<string | null> {
  const row = await db.selectFrom('auditLog').select('hash').where('seq', '=', head.seq).executeTakeFirst();
  if (row) return row.hash === head.hash ? null : `entry ${head.seq} differs from the signed head: the newest entries were removed or rewritten`;
  const anchor = await db.selectFrom('auditAnchors').selectAll().where('seq', '>=', head.seq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  const signed = anchor && markValid(keys, { kind: 'anchor', seq: Number(anchor.seq), hash: anchor.hash, ts: Number(anchor.ts), sig: anchor.sig });
  if (signed && (Number(anchor.seq) > head.seq || anchor.hash === head.hash)) return null;
  const before = await db.selectFrom('auditLog').select('seq').where('seq', '<', head.seq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return `entries after seq ${before ? Number(before.seq) : 0} are missing: the signed head is at seq ${head.seq}`;
}

/**
 * Advances the signed head after appends, one write at a time: appends that
 * commit while a write runs share the next one, so a burst costs a write
 * per batch or fewer. Before it moves the head it checks that the database
 * still holds the entry the current head names; if not, it leaves the head
 * where it is, so verification keeps reporting the loss instead of the next
 * append papering over it.
 */
export class HeadPublisher {
  #target: Target | null = null;
  #running: Promise<void> | null = null;
  #waiting: Array<{ seq: number; resolve: () => void }> = [];
  #reported: string | null = null;

  constructor(private readonly deps: HeadPublisherDeps) {}

  /**
   * Moves the head to `head`, an entry just committed. `from` is the entry
   * its batch linked to in the same transaction (null if unknown): when it is
   * the current head, the database held that head as the batch was written,
   * and no query is needed to check it. Resolves once a head at `head.seq` or
   * later is stored, or the failure was reported; never rejects.
   */
  advanceTo(head: ChainHead, opts: { from: ChainHead | null; create: boolean }): Promise<void> {
    const pending = this.#target;
    if (!pending) {
      this.#target = { seq: head.seq, hash: head.hash, from: opts.from, create: opts.create };
    } else if (head.seq > pending.seq) {
      // Batches that follow one another keep the first one's link; anything between breaks it.
      const from = opts.from && sameEntry(pending, opts.from) ? pending.from : null;
      this.#target = { seq: head.seq, hash: head.hash, from, create: opts.create || pending.create };
    } else {
      pending.create ||= opts.create;
    }
    const done = new Promise<void>((resolve) => this.#waiting.push({ seq: head.seq, resolve }));
    this.#kick();
    return done;
  }

  /** Resolves once no write is running or due. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#run().finally(() => {
      this.#running = null;
      if (this.#target) this.#kick();
    });
  }

  async #run(): Promise<void> {
    while (this.#target) {
      const target = this.#target;
      this.#target = null;
      try {
        await this.#publish(target);
        this.#reported = null;
      } catch (err) {
        this.#report(err);
      }
      const done = this.#waiting.filter((w) => w.seq <= target.seq);
      this.#waiting = this.#waiting.filter((w) => w.seq > target.seq);
      for (const w of done) w.resolve();
    }
  }

  async #publish(target: Target): Promise<void> {
    const { sql, keys, clock, store } = this.deps;
    // A head must never name an entry a power loss could still take back.
    await commitsDurable(sql.db)();
    const current = await store.read();
    if (current.state === 'invalid') throw new Error(`the audit head in ${store.location} is not validly signed; it was left as it is`);
    if (current.state === 'valid') {
      const head = current.mark;
      // At or past the target: another writer went further, or the entries it named are gone and
      // their seqs were taken again. Either way it stays; only the second is reported.
      const problem = sameEntry(target.from, head) || sameEntry(target, head) ? null : await headProblem(sql.db, keys, head);
      if (problem) throw new Error(`the audit head was not advanced: ${problem}`);
      if (head.seq >= target.seq) return;
    } else if (!target.create) {
      throw new Error(`no signed audit head in ${store.location}; not starting one over an existing chain (a server starts it at the database's end when it starts)`);
    }
    await store.advance(signMark(keys, { kind: 'head', seq: target.seq, hash: target.hash, ts: clock.nowMs() }));
  }

  #report(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (message === this.#reported) return;
    this.#reported = message;
    this.deps.onFailure(err);
  }
}
