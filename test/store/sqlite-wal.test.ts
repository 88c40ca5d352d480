import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb } from '../../src/store/sql/db.js';
import { WalSync } from '../../src/store/sql/wal-sync.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-wal-'));
  dirs.push(dir);
  return join(dir, 'flotilla.db');
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe('SQLite WAL checkpoints on a worker thread', () => {
  it("folds the WAL into the database file while the server's connection keeps writing, and leaves no WAL on close", async () => {
    const file = tempFile();
    const errors: Error[] = [];
    const store = await createDb({ sqliteFile: file, checkpointIntervalMs: 50, onCheckpointError: (err) => errors.push(err) });
    await sql`create table filler (id integer primary key, body text not null)`.execute(store.db);
    // About 2 MiB: far below the connection's own (backup) autocheckpoint, so only the thread moves it.
    for (let i = 0; i < 20; i++) {
      await sql`insert into filler (body) select printf('%.1000c', 'x') from (with recursive k(n) as (select 1 union all select n + 1 from k where n < 100) select n from k)`.execute(store.db);
    }
    expect(await until(() => statSync(file).size > 2_000_000, 5000)).toBe(true);
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(errors).toEqual([]);
  });

});

describe('WalSync', () => {
  it('answers every flush, those that arrive while a sync runs included, in the order the syncs end', async () => {
    const file = tempFile();
    const store = await createDb({ sqliteFile: file });
    const walSync = new WalSync(file);
    try {
      await sql`create table t (id integer primary key)`.execute(store.db);
      const order: string[] = [];
      const first = walSync.flush().then(() => order.push('first'));
      // Arrive while the first sync runs: they share the next one, which starts after the first ends.
      const later = [walSync.flush(), walSync.flush()].map((p) => p.then(() => order.push('later')));
      await Promise.all([first, ...later]);
      expect(order).toEqual(['first', 'later', 'later']);
      await walSync.flush();
    } finally {
      await walSync.close();
      await store.close();
    }
  });

  it('fails a flush it cannot perform instead of answering as if the data were on disk', async () => {
    const walSync = new WalSync(join(dirname(tempFile()), 'missing.db'));
    await expect(walSync.flush()).rejects.toMatchObject({ code: 'ENOENT' });
    await walSync.close();
  });
});
