import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Secrets } from '../../src/config/schema.js';
import { createFleet } from '../../src/fleet/module.js';
import { HOUR_MS, MINUTE_MS, RollupJob, SETTLE_MS } from '../../src/fleet/rollups.js';
import { ManualClock } from '../../src/lib/clock.js';
import { reportAad, sealEnvelope } from '../../src/protocol/sealing.js';
import { createDb, type SqlStore } from '../../src/store/sql/db.js';
import { migrateToLatest } from '../../src/store/sql/migrate.js';
import type { Database, MetricsRawTable } from '../../src/store/sql/tables.js';
import { kvBackend, sqlBackends } from '../harness/backends.js';
import { facts, report } from './agent-sim.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY_MS = 24 * HOUR_MS;
const silent = { error: () => {}, warn: () => {} };
const RETENTION = { rawHours: 48, minuteDays: 30, hourDays: 400 };

function raw(machineId: string, ts: number, cpu: number | null, createdAt: number): MetricsRawTable {
  return { machineId, ts, cpu, mem: cpu === null ? null : cpu / 2, swap: null, disk: 50, netRx: null, netTx: null, load1: 1, createdAt, updatedAt: createdAt };
}

async function insertRaw(db: Kysely<Database>, rows: MetricsRawTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await db.insertInto('metricsRaw').values(rows.slice(i, i + 1000)).execute();
}

const count = async (db: Kysely<Database>, table: 'metricsRaw' | 'metricsMinute' | 'metricsHour') =>
  Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

const memoryKv = kvBackend('memory');

for (const backend of sqlBackends()) {
  describe.skipIf(!backend.available)(`fleet rollups and retention (${backend.name})`, () => {
    const open: SqlStore[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    async function setup() {
      const store = await backend.create();
      open.push(store);
      const clock = new ManualClock(T0);
      const job = new RollupJob({ db: store.db, kv: await memoryKv.create(clock), clock, retention: RETENTION, log: silent });
      return { db: store.db, clock, job };
    }

    it('rolls raw samples into minute and hour buckets with averages and maxima', async () => {
      const { db, job } = await setup();
      // Minute 0: cpu 10, 20, 30 (one sample without cpu); minute 1: cpu 60.
      await insertRaw(db, [raw('m1', T0, 10, T0), raw('m1', T0 + 10_000, 20, T0), raw('m1', T0 + 20_000, 30, T0), raw('m1', T0 + 30_000, null, T0), raw('m1', T0 + MINUTE_MS, 60, T0), raw('m2', T0, 99, T0)]);
      const stats = await job.runOnce(T0 + 5 * MINUTE_MS);
      expect(stats.caughtUp).toBe(true);
      const minutes = await db.selectFrom('metricsMinute').selectAll().where('machineId', '=', 'm1').orderBy('bucket').execute();
      expect(minutes.map((m) => [m.bucket, m.count, m.cpuAvg, m.cpuMax, m.memMax])).toEqual([
        [T0, 4, 20, 30, 15],
        [T0 + MINUTE_MS, 1, 60, 60, 30],
      ]);
      const hours = await db.selectFrom('metricsHour').selectAll().where('machineId', '=', 'm1').execute();
      // Minute means weighted by their sample counts: (20*4 + 60*1) / 5. A minute keeps no
      // per-metric count, so one sample without cpu still weighs in (documented in rollups.ts).
      expect(hours.map((h) => [h.bucket, h.count, h.cpuAvg, h.cpuMax, h.diskAvg])).toEqual([[T0, 5, 28, 60, 50]]);
      expect((await db.selectFrom('metricsMinute').select('cpuAvg').where('machineId', '=', 'm2').execute()).map((r) => r.cpuAvg)).toEqual([99]);
    });

    it('waits for rows to settle, then re-rolls exactly the buckets a late spooled report falls in', async () => {
      const { db, job } = await setup();
      const now = T0 + 3 * HOUR_MS;
      await insertRaw(db, [raw('m1', T0, 10, T0 + 1000), raw('m1', T0 + 2 * HOUR_MS, 50, T0 + 2 * HOUR_MS)]);
      await job.runOnce(now);
      expect(await count(db, 'metricsMinute')).toBe(2);
      // Ingested just now: not rolled until it settles.
      await insertRaw(db, [raw('m1', T0 + 5000, 30, now - 1000)]);
      await job.runOnce(now);
      expect((await db.selectFrom('metricsMinute').select('count').where('bucket', '=', T0).executeTakeFirstOrThrow()).count).toBe(1);
      await job.runOnce(now + SETTLE_MS);
      const minute = await db.selectFrom('metricsMinute').selectAll().where('machineId', '=', 'm1').where('bucket', '=', T0).executeTakeFirstOrThrow();
      expect([minute.count, minute.cpuAvg, minute.cpuMax]).toEqual([2, 20, 30]);
      const hour = await db.selectFrom('metricsHour').selectAll().where('bucket', '=', T0).executeTakeFirstOrThrow();
      expect([hour.count, hour.cpuAvg]).toEqual([2, 20]);
      // The untouched bucket two hours later kept its row as it was.
      expect((await db.selectFrom('metricsHour').select('count').where('bucket', '=', T0 + 2 * HOUR_MS).executeTakeFirstOrThrow()).count).toBe(1);
    });

    it('rolls and prunes in bounded batches and prunes each table by its retention', async () => {
      const { db, clock, job } = await setup();
      const rows: MetricsRawTable[] = [];
      // 12 000 samples over 12 000 ms of ingest time, 10 s apart in collection time.
      for (let i = 0; i < 12_000; i++) rows.push(raw(`m${i % 3}`, T0 + i * 10_000, i % 100, T0 + i));
      await insertRaw(db, rows);
      const first = await job.runOnce(T0 + 2 * DAY_MS);
      expect(first.rolledBatches).toBeGreaterThanOrEqual(3);
      expect(first.caughtUp).toBe(true);
      const perMinute = await db.selectFrom('metricsMinute').select((eb) => eb.fn.sum<number>('count').as('n')).executeTakeFirstOrThrow();
      expect(Number(perMinute.n)).toBe(12_000);
      const perHour = await db.selectFrom('metricsHour').select((eb) => eb.fn.sum<number>('count').as('n')).executeTakeFirstOrThrow();
      expect(Number(perHour.n)).toBe(12_000);
      expect(first.pruned.raw).toBe(0);

      // Raw rows leave 48 h after ingest, in batches; rollups stay.
      clock.set(T0 + 48 * HOUR_MS + 20_000);
      const second = await job.runOnce(clock.nowMs());
      expect(second.pruned.raw).toBe(12_000);
      expect(await count(db, 'metricsRaw')).toBe(0);
      expect(await count(db, 'metricsMinute')).toBeGreaterThan(0);

      clock.set(T0 + 31 * DAY_MS + 2 * DAY_MS);
      expect((await job.runOnce(clock.nowMs())).pruned.minute).toBeGreaterThan(0);
      expect(await count(db, 'metricsMinute')).toBe(0);
      expect(await count(db, 'metricsHour')).toBeGreaterThan(0);

      clock.set(T0 + 402 * DAY_MS);
      await job.runOnce(clock.nowMs());
      expect(await count(db, 'metricsHour')).toBe(0);
    });

    it('resumes from its watermark: a second pass with nothing new changes nothing', async () => {
      const { db, job } = await setup();
      await insertRaw(db, [raw('m1', T0, 10, T0)]);
      await job.runOnce(T0 + HOUR_MS);
      const before = await db.selectFrom('metricsMinute').selectAll().execute();
      const again = await job.runOnce(T0 + 2 * HOUR_MS);
      expect(again.rolledBatches).toBe(1);
      expect(await db.selectFrom('metricsMinute').selectAll().execute()).toEqual(before);
    });
  });
}

describe('report ingest cost does not grow with the tables (SQLite query plans)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('uses only primary-key and index lookups after 50 000 rows of another machine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-plan-'));
    dirs.push(dir);
    const file = join(dir, 'flotilla.db');
    const captured: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    let capturing = false;
    const store = await createDb({
      sqliteFile: file,
      log: (event) => {
        if (capturing && event.level === 'query') captured.push({ sql: event.query.sql, parameters: event.query.parameters });
      },
    });
    const clock = new ManualClock(T0 + DAY_MS);
    const kv = await memoryKv.create(clock);
    try {
      await migrateToLatest(store);
      const config = await loadConfig({ env: {}, overrides: { dataDir: dir } });
      const secret = () => randomBytes(32).toString('base64url');
      const secrets: Secrets = { jwt: secret(), pepper: { '1': secret() }, e2ee: secret(), db: secret(), audit: secret(), commandSigning: secret(), cluster: secret() };
      const fleet = createFleet({ db: store.db, kv, clock, config, secrets, log: silent, streamAuthority: { stillValid: async (owners) => owners.map(() => false) } });
      const { token } = await fleet.enrollment.createToken({ ttlSeconds: 3600, maxUses: 2 }, null);
      const other = await fleet.enrollment.enroll({ token, facts: facts({ hostname: 'big' }) }, null);
      const agent = await fleet.enrollment.enroll({ token, facts: facts({ hostname: 'small' }) }, null);
      await sql`
        with recursive n(i) as (select 0 union all select i + 1 from n where i < 49999)
        insert into metrics_raw (machine_id, ts, cpu, mem, swap, disk, net_rx, net_tx, load1, created_at, updated_at)
        select ${other.agentId}, ${T0} + i * 1000, 1, 1, 1, 1, 1, 1, 1, ${T0}, ${T0} from n
      `.execute(store.db);
      expect(await count(store.db, 'metricsRaw')).toBe(50_000);

      const now = clock.nowMs();
      const key = fleet.keys.sealingKey(agent.agentId, 1);
      const envelope = sealEnvelope(key, { kid: 1, ts: now, seq: 1 }, reportAad(agent.agentId, 1, now, 1), Buffer.from(JSON.stringify({ reports: [report(now), report(now - 10_000)] })));
      const agentRow = await fleet.agents.byId(agent.agentId);
      if (!agentRow) throw new Error('the enrolled agent has no row');
      capturing = true;
      const answer = await fleet.ingest.ingest(agentRow, envelope, '127.0.0.1');
      capturing = false;
      expect(answer.accepted).toBe(2);

      const statements = captured.map((q) => q.sql.toLowerCase());
      expect(statements.some((s) => s.startsWith('insert into "metrics_raw"'))).toBe(true);
      expect(statements.some((s) => s.startsWith('update "agents"'))).toBe(true);
      expect(statements.some((s) => s.startsWith('update "machines"'))).toBe(true);
      expect(statements.some((s) => s.startsWith('delete'))).toBe(false);

      const probe = new SqliteDatabase(file, { readonly: true });
      try {
        for (const q of captured) {
          if (/^(begin|commit|rollback)/i.test(q.sql)) continue;
          const plan = probe.prepare(`explain query plan ${q.sql}`).all(...(q.parameters as unknown[])) as Array<{ detail: string }>;
          for (const step of plan) expect(step.detail, q.sql).not.toMatch(/^SCAN (metrics_|machines|agents|machine_tags|enrollment_tokens)/);
        }
      } finally {
        probe.close();
      }
    } finally {
      await kv.close();
      await store.close();
    }
  });
});
