import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb } from '../../src/store/sql/db.js';
import { WalSync } from '../../src/store/sql/wal-sync.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-walsync-'));
  dirs.push(dir);
  return dir;
}

describe('WalSync', () => {
  it('answers every flush, those that arrive while a sync runs included, in the order the syncs end', async () => {
    const file = join(tempDir(), 'flotilla.db');
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
    const walSync = new WalSync(join(tempDir(), 'missing.db'));
    await expect(walSync.flush()).rejects.toMatchObject({ code: 'ENOENT' });
    await walSync.close();
  });
});
