import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './tables.js';

export type Unit<T> = (trx: Transaction<Database>) => Promise<T>;

export interface GroupCommitOptions {
  /** Most units one transaction takes. */
  maxGroup: number;
  /** Transactions open at once: 1 on SQLite (one connection), a few on a PostgreSQL pool. */
  concurrency: number;
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
 * back alone, and the commit (the WAL write on SQLite, the fsync on
 * PostgreSQL) is paid once per group instead of once per unit. A unit's
 * promise settles only after its group committed, so no answer runs ahead of
 * durability; if the commit fails, every unit of the group fails with it.
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

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: GroupCommitOptions,
  ) {
    if (!Number.isInteger(opts.maxGroup) || opts.maxGroup < 1) throw new RangeError('maxGroup must be a positive integer');
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  }

  /** Runs `unit` in a transaction it may share; resolves with its result once that transaction committed. */
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

  async #commit(group: Pending[]): Promise<void> {
    const [only] = group;
    if (group.length === 1 && only) {
      try {
        only.resolve(await this.db.transaction().execute(only.unit));
      } catch (err) {
        only.reject(err);
      }
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = await this.db.transaction().execute(async (trx) => {
        const done: Outcome[] = [];
        for (const pending of group) done.push(await runInSavepoint(trx, pending.unit));
        return done;
      });
    } catch (err) {
      for (const pending of group) pending.reject(err);
      return;
    }
    group.forEach((pending, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
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
