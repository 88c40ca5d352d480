/**
 * Child process of bench:audit: verifies the chain in the SQLite file given as
 * argv[2] (keyed by the secret in BENCH_AUDIT_SECRET), then reads the same
 * rows without checking them, and prints one JSON line: times, and the
 * resident memory verification added. A process of its own, so the bulk load
 * that built the chain is not in its memory and the peak is verification's.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { batchesInOrder } from '../src/security/audit/query.js';
import { VERIFY_BATCH } from '../src/security/audit/verify.js';
import { createDb, type SqlStore } from '../src/store/sql/db.js';
import { auditFixture } from '../test/security/helpers.js';
import { currentRssMiB, peakRssMiB } from './lib.js';

/** The early peak is read up to here: memory that is flat stays at it for the rest of the chain. */
const EARLY_ENTRIES = 100_000;

/** Wall and CPU time (the machine may be shared) of one pass over the chain. */
export interface Pass {
  count: number;
  ms: number;
  cpuMs: number;
}

export interface VerifyReport {
  ok: boolean;
  verify: Pass;
  /** The same rows read in the same batches and not checked: the store's share of the time. */
  read: Pass;
  /** Resident MiB just before verification. */
  baseMiB: number;
  /** Peak resident MiB over the first `earlyEntries` entries, and over the whole chain. */
  earlyEntries: number;
  earlyPeakMiB: number;
  peakMiB: number;
}

/** Resets the kernel's RSS high-water mark (Linux 4.0+), so VmHWM covers only what follows. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function timed(work: () => Promise<number>): Promise<Pass> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const count = await work();
  const used = process.cpuUsage(cpu);
  return { count, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

async function readOnly(store: SqlStore): Promise<number> {
  let count = 0;
  for await (const rows of batchesInOrder(store.db, { batchSize: VERIFY_BATCH })) count += rows.length;
  return count;
}

async function run(file: string, secret: string): Promise<VerifyReport> {
  const store = await createDb({ sqliteFile: file });
  const f = auditFixture(store, { secret });
  try {
    // The chain was bulk-loaded past the service: start its signed head as a server would.
    await f.audit.adoptHead();
    await store.db.selectFrom('auditLog').select('seq').limit(1).execute();
    const baseMiB = currentRssMiB(process.pid);
    // Without the reset, the RSS sampled once a batch stands in (it misses spikes within a batch).
    const exact = resetPeakRss();
    const mark = () => (exact ? peakRssMiB(process.pid) : currentRssMiB(process.pid));
    let seen = 0;
    let peakMiB = baseMiB;
    let earlyPeakMiB = baseMiB;
    let ok = false;
    const verify = await timed(async () => {
      const result = await f.audit.verify({
        onBatch: (n) => {
          seen += n;
          peakMiB = Math.max(peakMiB, mark());
          if (seen <= EARLY_ENTRIES) earlyPeakMiB = peakMiB;
        },
      });
      ok = result.ok;
      return result.count;
    });
    peakMiB = Math.max(peakMiB, mark());
    // After verification, so its growth of the heap does not hide any of verification's.
    const read = await timed(() => readOnly(store));
    return { ok, verify, read, baseMiB, earlyEntries: EARLY_ENTRIES, earlyPeakMiB, peakMiB };
  } finally {
    await store.close();
    rmSync(f.dir, { recursive: true, force: true });
  }
}

const [file] = process.argv.slice(2);
const secret = process.env.BENCH_AUDIT_SECRET;
if (!file || !secret) throw new Error('usage: BENCH_AUDIT_SECRET=<secret> audit-verify-child.ts <sqlite file>');
process.stdout.write(`${JSON.stringify(await run(file, secret))}\n`);
