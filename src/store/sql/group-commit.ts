import { sql, type Kysely, type Transaction } from 'kysely';
import { commitsDurable } from './db.js';
import type { Database } from './tables.js';

export type Unit<T> = (trx: Transaction<Database>) => Promise<T>;

export interface GroupCommitOptions {
  /** Most units one transaction takes. */
  maxGroup: number;
  /** Transactions open at once: 1 on SQLite (one connection), a few on a PostgreSQL pool. */
  concurrency: number;
  /** Resolves once what was committed is on disk; by default the database's own (`commitsDurable`). */
  durable?: () => Promise<void>;
}

interface Pending {
  key: string;
  unit: Unit<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const byKey = (a: Pending, b: Pending): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Group commit. Units of work that arrive while a transaction is busy wait,
 * then share the next one, each in its own savepoint: a unit that fails rolls
 * back alone, and the commit (the WAL write and its fdatasync on SQLite, the
 * fsync on PostgreSQL) is paid once per group instead of once per unit. A
 * unit's promise settles only after its group committed and is on disk, so no
 * answer runs ahead of durability; if the commit or the sync fails, every unit
 * of the group fails with it.
 * A group that holds one unit takes the plain path, without a savepoint.
 *
 * Units with the same key never share a group, and a group runs its units in
 * key order, so concurrent groups take row locks in one order and cannot
 * deadlock each other.
 */
export class GroupCommit {
  #queue: Pending[] = [];
  #active = 0;
  #scheduled = false;
  readonly #durable: () => Promise<void>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: GroupCommitOptions,
  ) {
    this.#durable = opts.durable ?? commitsDurable(db);
    if (!Number.isInteger(opts.maxGroup) || opts.maxGroup < 1) throw new RangeError('maxGroup must be a positive integer');
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  }

  /** Runs `unit` in a transaction it may share; resolves with its result once that transaction committed and is durable. */
  run<T>(key: string, unit: Unit<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ key, unit, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Starts groups after the event loop has taken in the I/O that is ready:
   * better-sqlite3 answers synchronously, so a transaction started at once
   * would commit before the next request is even read, and no group would form.
   */
  #schedule(): void {
    if (this.#scheduled || this.#active >= this.opts.concurrency) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#active < this.opts.concurrency && this.#queue.length > 0) {
      const group = this.#take();
      this.#active++;
      void this.#commit(group).finally(() => {
        this.#active--;
        this.#schedule();
      });
    }
  }

  /** The next group: oldest first, one unit per key, at most maxGroup, in key order. */
  #take(): Pending[] {
    const group: Pending[] = [];
    const keys = new Set<string>();
    const rest: Pending[] = [];
    for (const pending of this.#queue) {
      if (group.length < this.opts.maxGroup && !keys.has(pending.key)) {
        group.push(pending);
        keys.add(pending.key);
      } else {
        rest.push(pending);
      }
    }
    this.#queue = rest;
    return group.sort(byKey);
  }

  /** Holds a slot for the transaction only: the wait for the disk leaves the next group free to start. */
  async #commit(group: Pending[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#transact(group);
    } catch (err) {
      for (const pending of group) pending.reject(err);
      return;
    }
    void this.#settle(group, outcomes);
  }

  #transact(group: Pending[]): Promise<Outcome[]> {
    const [only] = group;
    if (group.length === 1 && only) {
      // Alone: the unit's failure is the transaction's, no savepoint needed.
      return this.db
        .transaction()
        .execute(only.unit)
        .then(
          (value): Outcome[] => [{ ok: true, value }],
          (error: unknown): Outcome[] => [{ ok: false, error }],
        );
    }
    return this.db.transaction().execute(async (trx) => {
      const outcomes: Outcome[] = [];
      for (const pending of group) outcomes.push(await runInSavepoint(trx, pending.unit));
      return outcomes;
    });
  }

  async #settle(group: Pending[], outcomes: Outcome[]): Promise<void> {
    let syncError: { error: unknown } | null = null;
    if (outcomes.some((o) => o.ok)) await this.#durable().catch((error: unknown) => (syncError = { error }));
    group.forEach((pending, i) => {
      const outcome = outcomes[i] as Outcome;
      if (!outcome.ok) pending.reject(outcome.error);
      else if (syncError) pending.reject(syncError.error);
      else pending.resolve(outcome.value);
    });
  }
}

async function runInSavepoint(trx: Transaction<Database>, unit: Unit<unknown>): Promise<Outcome> {
  await sql`savepoint unit`.execute(trx);
  let outcome: Outcome;
  try {
    outcome = { ok: true, value: await unit(trx) };
  } catch (error) {
    // Undoes this unit's writes only; on PostgreSQL it also clears the failed-transaction state.
    await sql`rollback to savepoint unit`.execute(trx);
    outcome = { ok: false, error };
  }
  await sql`release savepoint unit`.execute(trx);
  return outcome;
}
