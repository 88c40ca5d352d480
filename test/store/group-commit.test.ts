import { readdirSync, readlinkSync } from 'node:fs';
import { sql, type Transaction } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { SqlStore } from '../../src/store/sql/db.js';
import { GroupCommit, type Unit } from '../../src/store/sql/group-commit.js';
import type { Database } from '../../src/store/sql/tables.js';
import { sqlBackends } from '../harness/backends.js';

/** A settle flag for a promise, to see whether an answer left before something else happened. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  tracked.catch(() => undefined);
  return { promise: tracked, settled: () => settled };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error('timed out waiting');
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`group commit: ${backend.name}`, () => {
    const open: SqlStore[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    /** A fresh database with a parent table and a child table whose foreign key is checked at commit. */
    async function setup(): Promise<{ store: SqlStore; commits: GroupCommit }> {
      const store = await backend.create({ migrate: false });
      open.push(store);
      await sql`create table gc_parent (id text primary key)`.execute(store.db);
      await sql`create table gc_child (id text primary key, parent_id text not null references gc_parent (id) deferrable initially deferred)`.execute(store.db);
      await sql`insert into gc_parent (id) values ('p')`.execute(store.db);
      return { store, commits: new GroupCommit(store.db, { maxGroup: 64, concurrency: 1 }) };
    }

    const insertChild = (trx: Transaction<Database>, id: string, parent = 'p') => sql`insert into gc_child (id, parent_id) values (${id}, ${parent})`.execute(trx);

    async function children(store: SqlStore): Promise<string[]> {
      const result = await sql<{ id: string }>`select id from gc_child order by id`.execute(store.db);
      return result.rows.map((r) => r.id);
    }

    it('units that arrive together share one transaction, run in key order, and all commit', async () => {
      const { store, commits } = await setup();
      const transactions = new Set<Transaction<Database>>();
      const order: string[] = [];
      const unit = (id: string): Unit<string> => async (trx) => {
        transactions.add(trx);
        order.push(id);
        await insertChild(trx, id);
        return `stored ${id}`;
      };
      const answers = await Promise.all(['c', 'a', 'b'].map((id) => commits.run(id, unit(id))));
      expect(answers).toEqual(['stored c', 'stored a', 'stored b']);
      expect(transactions.size).toBe(1);
      expect(order).toEqual(['a', 'b', 'c']);
      expect(await children(store)).toEqual(['a', 'b', 'c']);
    });

    it('a unit that fails, even on a failed statement, rolls back alone; the others of its group commit', async () => {
      const { store, commits } = await setup();
      const transactions = new Set<Transaction<Database>>();
      const a = commits.run('a', async (trx) => {
        transactions.add(trx);
        await insertChild(trx, 'a');
      });
      // Writes a row, then hits a duplicate key: on PostgreSQL that leaves the transaction failed until the savepoint is rolled back.
      const b = commits.run('b', async (trx) => {
        transactions.add(trx);
        await insertChild(trx, 'b');
        await insertChild(trx, 'a');
      });
      const c = commits.run('c', async (trx) => {
        transactions.add(trx);
        await insertChild(trx, 'c');
        throw new Error('refused c');
      });
      const d = commits.run('d', async (trx) => {
        transactions.add(trx);
        await insertChild(trx, 'd');
      });
      const settled = await Promise.allSettled([a, b, c, d]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect((settled[2] as PromiseRejectedResult).reason).toEqual(new Error('refused c'));
      expect(transactions.size).toBe(1);
      expect(await children(store)).toEqual(['a', 'd']);
    });

    it("no unit's answer leaves before its group committed", async () => {
      const { store, commits } = await setup();
      const later = gate();
      const reached = gate();
      const first = watch(commits.run('a', (trx) => insertChild(trx, 'a').then(() => 'a')));
      const second = watch(
        commits.run('b', async (trx) => {
          reached.open();
          await later.wait;
          await insertChild(trx, 'b');
          return 'b';
        }),
      );
      await reached.wait;
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The first unit's work is done, but its transaction is still open.
      expect(first.settled()).toBe(false);
      later.open();
      expect(await Promise.all([first.promise, second.promise])).toEqual(['a', 'b']);
      expect(await children(store)).toEqual(['a', 'b']);
    });

    it('a failed commit fails every unit of its group and stores none of them', async () => {
      const { store, commits } = await setup();
      const a = commits.run('a', (trx) => insertChild(trx, 'a'));
      // The foreign key is checked only at commit, after every unit has succeeded.
      const b = commits.run('b', (trx) => insertChild(trx, 'b', 'no-such-parent'));
      const settled = await Promise.allSettled([a, b]);
      expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
      expect(await children(store)).toEqual([]);
      // The next group is not affected.
      await commits.run('c', (trx) => insertChild(trx, 'c'));
      expect(await children(store)).toEqual(['c']);
    });

    it('units with the same key never share a group: the later one runs after the earlier committed', async () => {
      const { store, commits } = await setup();
      const transactions: Array<Transaction<Database>> = [];
      const first = commits.run('same', async (trx) => {
        transactions.push(trx);
        await insertChild(trx, 'a');
      });
      let seenBySecond: string[] = [];
      const second = commits.run('same', async (trx) => {
        transactions.push(trx);
        seenBySecond = (await sql<{ id: string }>`select id from gc_child`.execute(trx)).rows.map((r) => r.id);
        await insertChild(trx, 'b');
      });
      await Promise.all([first, second]);
      expect(transactions.length).toBe(2);
      expect(transactions[0]).not.toBe(transactions[1]);
      expect(seenBySecond).toEqual(['a']);
      expect(await children(store)).toEqual(['a', 'b']);
    });

    it('takes at most maxGroup units per transaction', async () => {
      const { store } = await setup();
      const commits = new GroupCommit(store.db, { maxGroup: 2, concurrency: 1 });
      const transactions = new Set<Transaction<Database>>();
      await Promise.all(
        ['a', 'b', 'c', 'd', 'e'].map((id) =>
          commits.run(id, async (trx) => {
            transactions.add(trx);
            await insertChild(trx, id);
          }),
        ),
      );
      expect(transactions.size).toBe(3);
      expect(await children(store)).toEqual(['a', 'b', 'c', 'd', 'e']);
    });
  });
}

describe('group commit: answers wait for the disk', () => {
  const sqlite = sqlBackends().find((b) => b.name === 'sqlite');
  const open: SqlStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function store(): Promise<SqlStore> {
    const created = await (sqlite as NonNullable<typeof sqlite>).create({ migrate: false });
    open.push(created);
    await sql`create table gc_row (id text primary key)`.execute(created.db);
    return created;
  }
  const insert = (id: string): Unit<string> => (trx) => sql`insert into gc_row (id) values (${id})`.execute(trx).then(() => id);

  it('settles a group only once its commit is durable, while the next group already runs', async () => {
    const db = (await store()).db;
    const syncs: Array<() => void> = [];
    const commits = new GroupCommit(db, { maxGroup: 64, concurrency: 1, durable: () => new Promise<void>((resolve) => syncs.push(resolve)) });
    const first = watch(commits.run('a', insert('a')));
    await until(() => syncs.length === 1);
    // Committed, not yet on disk: no answer yet, and the connection is free for the next group.
    const second = watch(commits.run('b', insert('b')));
    await until(() => syncs.length === 2);
    expect([first.settled(), second.settled()]).toEqual([false, false]);
    syncs[1]?.();
    expect(await second.promise).toBe('b');
    expect(first.settled()).toBe(false);
    syncs[0]?.();
    expect(await first.promise).toBe('a');
  });

  it('fails the units of a group whose sync fails', async () => {
    const db = (await store()).db;
    const commits = new GroupCommit(db, { maxGroup: 64, concurrency: 1, durable: () => Promise.reject(new Error('fdatasync: EIO')) });
    await expect(commits.run('a', insert('a'))).rejects.toThrow('EIO');
  });

  it("a SQLite file store syncs its WAL: the answer's sync holds the WAL open and succeeds", async () => {
    const created = await store();
    const walFds = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).endsWith('-wal');
      } catch {
        return false;
      }
    }).length;
    const before = walFds();
    await new GroupCommit(created.db, { maxGroup: 64, concurrency: 1 }).run('a', insert('a'));
    expect(walFds()).toBe(before + 1);
  });
});
