/**
 * bench:audit — the audit chain on SQLite.
 *   1. appends/s through AuditService.append (the writer's batched path under the chain lock, with
 *      the signed head file advanced in the background; target >= 20,000), against a raw bulk load
 *      of the same entries (one statement, one transaction).
 *   2. peak resident memory that verifying a 1M-entry chain adds, against what it added over the
 *      first 100k entries: verification streams batches, so the ratio stays near 1 (the garbage
 *      collector's headroom moves it a little; memory that grew with the chain would give 10).
 *   3. entries verified per second of CPU and (the headline) of wall time over that chain
 *      (target >= 200,000), each against reading the same rows without checking them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../src/lib/clock.js';
import type { SignedMark } from '../src/security/audit/checkpoints.js';
import type { HeadStore } from '../src/security/audit/head.js';
import { FileHeadStore } from '../src/security/audit/head-file.js';
import { deriveAuditKeys, type AuditKeys } from '../src/security/audit/keys.js';
import { prepareEntry } from '../src/security/recorder.js';
import { createDb } from '../src/store/sql/db.js';
import { migrateToLatest } from '../src/store/sql/migrate.js';
import { auditFixture, insertChain, sampleRecord } from '../test/security/helpers.js';
import type { VerifyReport } from './audit-verify-child.js';
import { printFigure, throughput } from './lib.js';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const CHAIN = Number(process.env.BENCH_AUDIT_ENTRIES ?? 1_000_000);
/** Appends in flight at once: a burst of events, well under the writer's 10,000-entry queue cap. */
const CONCURRENCY = 1000;
const VERIFY_TARGET = 200_000;
const APPEND_TARGET = 20_000;
const NOW = new ManualClock().nowMs();

async function migratedSqlite(file: string) {
  const store = await createDb({ sqliteFile: file });
  await migrateToLatest(store);
  return store;
}

/** Counts the head writes that happen while appends run. */
function countingHead(keys: AuditKeys, path: string): HeadStore & { writes: number } {
  const file = new FileHeadStore(path, keys);
  const counted = {
    location: file.location,
    writes: 0,
    read: () => file.read(),
    advance: async (mark: SignedMark) => {
      const stored = await file.advance(mark);
      if (stored) counted.writes++;
      return stored;
    },
  };
  return counted;
}

/** Appends/s through the service, checked afterwards: every entry written, the chain intact, the head at its end. */
async function appendRate(file: string): Promise<{ rate: number; headWrites: number }> {
  const store = await migratedSqlite(file);
  let head: ReturnType<typeof countingHead> | undefined;
  const f = auditFixture(store, { head: (keys) => (head = countingHead(keys, `${file}.head.json`)) });
  try {
    let n = 0;
    const append = () => f.audit.append(prepareEntry(sampleRecord(++n), f.clock.nowMs()));
    await throughput(append, CONCURRENCY, 1000);
    const before = head?.writes ?? 0;
    const rate = await throughput(append, CONCURRENCY, DURATION_MS);
    const headWrites = (head?.writes ?? 0) - before;
    const check = await f.audit.verify();
    const failures = f.failures.length + f.headFailures.length;
    if (failures > 0 || !check.ok || check.count !== n || check.signedHeadSeq !== n) throw new Error(`appends lost, chain broken or head behind: ${JSON.stringify(check)}, ${failures} failures`);
    return { rate, headWrites };
  } finally {
    await store.close();
    rmSync(f.dir, { recursive: true, force: true });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-audit-'));
try {
  const { rate: appends, headWrites } = await appendRate(join(dir, 'append.db'));

  const secret = randomBytes(32).toString('base64url');
  const keys = deriveAuditKeys(secret);
  const chainFile = join(dir, 'chain.db');
  await (await migratedSqlite(chainFile)).close();
  const loadStarted = performance.now();
  insertChain(chainFile, keys.hmacKey, CHAIN, NOW);
  const bulk = CHAIN / ((performance.now() - loadStarted) / 1000);

  const child = fileURLToPath(new URL('./audit-verify-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, child, chainFile], { env: { ...process.env, BENCH_AUDIT_SECRET: secret }, encoding: 'utf8' });
  const report = JSON.parse(out.trim().split('\n').pop() ?? '') as VerifyReport;
  if (!report.ok || report.verify.count !== CHAIN || report.read.count !== CHAIN) throw new Error(`verification failed: ${out}`);
  const perSecond = (ms: number) => CHAIN / (ms / 1000);
  const grew = report.peakMiB - report.baseMiB;
  const grewEarly = report.earlyPeakMiB - report.baseMiB;

  printFigure({
    bench: 'audit-append',
    value: Math.round(appends),
    baseline: Math.round(bulk),
    ratio: +(appends / APPEND_TARGET).toFixed(3),
    target: 1,
    unit: `entries/s through AuditService.append, ${headWrites} signed head writes meanwhile (baseline = raw bulk insert; ratio = value / ${APPEND_TARGET})`,
  });
  printFigure({
    bench: 'audit-verify-1m-peak-memory',
    value: +grew.toFixed(1),
    baseline: +grewEarly.toFixed(1),
    ratio: +(grew / Math.max(grewEarly, 1)).toFixed(2),
    target: 2,
    unit: `MiB RSS added by verifying ${CHAIN} entries vs the first ${report.earlyEntries} (base ${report.baseMiB.toFixed(1)} MiB; target ratio <= 2: flat memory, where growth with the chain would give ~${CHAIN / report.earlyEntries})`,
  });
  const cpuRate = perSecond(report.verify.cpuMs);
  printFigure({ bench: 'audit-verify-cpu', value: Math.round(cpuRate), baseline: Math.round(perSecond(report.read.cpuMs)), ratio: +(cpuRate / VERIFY_TARGET).toFixed(3), target: 1, unit: `entries per CPU second (baseline = reading the rows alone; ratio = value / ${VERIFY_TARGET})` });
  const rate = perSecond(report.verify.ms);
  printFigure({ bench: 'audit-verify', value: Math.round(rate), baseline: Math.round(perSecond(report.read.ms)), ratio: +(rate / VERIFY_TARGET).toFixed(3), target: 1, unit: `entries/s over ${CHAIN} (baseline = reading the rows alone; ratio = value / ${VERIFY_TARGET})` });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
