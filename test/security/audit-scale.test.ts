import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type SqlStore } from '../../src/store/sql/db.js';
import { migrateToLatest } from '../../src/store/sql/migrate.js';
import { VERIFY_BATCH } from '../../src/security/audit/verify.js';
import { auditFixture, insertChain, type AuditFixture } from './helpers.js';

const ROWS = 200_000;
const MB = 1024 * 1024;

// Heap in use right after a full collection: what verification still holds,
// not garbage a lazy collector has yet to reclaim (which varies by machine).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
function retainedHeap(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

/**
 * Verification streams keyset batches, so memory stays flat whatever the
 * length of the log (the design target is a million entries). 200k valid
 * entries are bulk-inserted directly, then verified while the retained heap
 * is sampled every tenth batch: 200k rows held at once would take well over
 * 100 MB.
 */
describe('audit verification holds one batch at a time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-scale-'));
  let store: SqlStore;
  let f: AuditFixture;

  beforeAll(async () => {
    const file = join(dir, 'flotilla.db');
    store = await createDb({ sqliteFile: file });
    await migrateToLatest(store);
    f = auditFixture(store);
    insertChain(file, f.keys.hmacKey, ROWS, f.clock.nowMs());
    await f.audit.adoptHead();
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`verifies ${ROWS} entries in batches of ${VERIFY_BATCH} with flat memory`, async () => {
    const sizes: number[] = [];
    const base = retainedHeap();
    let peak = base;
    const result = await f.audit.verify({
      onBatch: (n) => {
        sizes.push(n);
        if (sizes.length % 10 === 0) peak = Math.max(peak, retainedHeap());
      },
    });
    expect(result).toMatchObject({ ok: true, count: ROWS, lastSeq: ROWS });
    expect(sizes.length).toBe(ROWS / VERIFY_BATCH);
    expect(Math.max(...sizes)).toBe(VERIFY_BATCH);
    expect((peak - base) / MB).toBeLessThan(32);
  }, 120_000);
});
