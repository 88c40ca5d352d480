import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import type { FleetLog } from './log.js';
import { msParam } from './status.js';
import { JobLease } from '../store/kv/lease.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Rows per statement, so no single statement holds the database for long. */
export const BATCH_ROWS = 5000;
/** Statements per table per run; the rest waits for the next run. */
const MAX_BATCHES = 50;
/**
 * Rows are rolled up once their ingest time is this far behind: a report
 * transaction that stamped created_at just before a run may commit just after
 * it, and nodes' clocks differ a little.
 */
export const SETTLE_MS = 30_000;
const WATERMARK = 'fleet.rollup';
const LOCK = 'fleet:jobs:leader';

// Constant column names, never input: safe to splice into SQL.
const METRICS = ['cpu', 'mem', 'swap', 'disk', 'net_rx', 'net_tx', 'load1'] as const;

export interface Retention {
  rawHours: number;
  minuteDays: number;
  hourDays: number;
}

export interface RollupStats {
  rolledBatches: number;
  caughtUp: boolean;
  pruned: { raw: number; minute: number; hour: number };
}

const rollupColumns = sql.raw(['machine_id', 'bucket', 'count', ...METRICS.flatMap((m) => [`${m}_avg`, `${m}_max`]), 'created_at', 'updated_at'].join(', '));
const upsertSet = sql.raw(['count', ...METRICS.flatMap((m) => [`${m}_avg`, `${m}_max`]), 'updated_at'].map((c) => `${c} = excluded.${c}`).join(', '));

/**
 * Background upkeep of the metric series (docs/architecture.md, "Life of a report"): rolls raw samples
 * into 1-minute and 1-hour buckets and prunes each table by its retention, in
 * bounded batches. New raw rows are found by ingest time (created_at), so a
 * report that arrives late from an agent's spool re-rolls exactly the buckets
 * it falls in, recomputed from their source rows (idempotent).
 * On a cluster one node runs it at a time, under a KV lock.
 */
export class RollupJob {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<unknown> | null = null;
  #lease: JobLease | null = null;

  constructor(private readonly deps: { db: Kysely<Database>; kv: Kv; clock: Clock; retention: Retention; log: FleetLog; intervalMs?: number }) {}

  start(): void {
    if (this.timer) return;
    const intervalMs = this.deps.intervalMs ?? MINUTE_MS;
    this.timer = setInterval(() => void this.tick(intervalMs), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.#lease?.release();
  }

  private async tick(intervalMs: number): Promise<void> {
    if (this.running) return;
    const run = (async () => {
      try {
        // The lease outlives one interval, so the leader keeps it by renewing on each tick.
        this.#lease ??= new JobLease(this.deps.kv, LOCK, intervalMs * 3);
        await this.#lease.run(async () => void (await this.runOnce(this.deps.clock.nowMs())), { hold: true });
      } catch (err) {
        this.deps.log.error({ err }, 'fleet rollup failed');
      }
    })();
    this.running = run;
    await run;
    this.running = null;
  }

  /** One pass: roll up what arrived since the last pass, then prune. */
  async runOnce(now: number): Promise<RollupStats> {
    const cut = now - SETTLE_MS;
    let from = await this.watermark();
    let rolledBatches = 0;
    while (from < cut && rolledBatches < MAX_BATCHES) {
      const to = await this.batchEnd(from, cut);
      await this.rollMinutes(from, to, now);
      await this.rollHours(from, to, now);
      await this.setWatermark(to, now);
      from = to;
      rolledBatches++;
    }
    const caughtUp = from >= cut;
    const { rawHours, minuteDays, hourDays } = this.deps.retention;
    // Raw rows leave only once rolled up, so a job that fell behind loses nothing.
    const raw = caughtUp ? await this.prune('metrics_raw', 'created_at', Math.min(now - rawHours * HOUR_MS, from)) : 0;
    const minute = await this.prune('metrics_minute', 'bucket', now - minuteDays * DAY_MS);
    const hour = await this.prune('metrics_hour', 'bucket', now - hourDays * DAY_MS);
    return { rolledBatches, caughtUp, pruned: { raw, minute, hour } };
  }

  private async watermark(): Promise<number> {
    const row = await this.deps.db.selectFrom('jobWatermarks').select('value').where('name', '=', WATERMARK).executeTakeFirst();
    return row?.value ?? 0;
  }

  private async setWatermark(value: number, now: number): Promise<void> {
    await this.deps.db
      .insertInto('jobWatermarks')
      .values({ name: WATERMARK, value, createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value, updatedAt: now }))
      .execute();
  }

  /** The end of the next batch: just past about BATCH_ROWS rows of ingest time, found through the created_at index. */
  private async batchEnd(from: number, cut: number): Promise<number> {
    const row = await this.deps.db
      .selectFrom('metricsRaw')
      .select('createdAt')
      .where('createdAt', '>=', from)
      .where('createdAt', '<', cut)
      .orderBy('createdAt')
      .limit(1)
      .offset(BATCH_ROWS)
      .executeTakeFirst();
    // Rows sharing one created_at go in the same batch, so the batch always advances.
    return row ? Math.max(row.createdAt, from + 1) : cut;
  }

  /** Recomputes every minute bucket that holds a raw row ingested in [from, to). */
  private async rollMinutes(from: number, to: number, now: number): Promise<void> {
    const aggregates = sql.raw(METRICS.map((m) => `avg(r.${m}), max(r.${m})`).join(', '));
    await sql`
      insert into metrics_minute (${rollupColumns})
      select r.machine_id, r.ts - (r.ts % ${sql.lit(MINUTE_MS)}), count(*), ${aggregates}, ${msParam(now)}, ${msParam(now)}
      from metrics_raw r
      join (select distinct machine_id, ts - (ts % ${sql.lit(MINUTE_MS)}) as b from metrics_raw where created_at >= ${msParam(from)} and created_at < ${msParam(to)}) d
        on r.machine_id = d.machine_id and r.ts >= d.b and r.ts < d.b + ${sql.lit(MINUTE_MS)}
      where true
      group by r.machine_id, r.ts - (r.ts % ${sql.lit(MINUTE_MS)})
      on conflict (machine_id, bucket) do update set ${upsertSet}
    `.execute(this.deps.db);
  }

  /**
   * Recomputes the hour buckets of the same rows from their minute buckets:
   * means weighted by each minute's sample count. A minute keeps no count per
   * metric, so in a minute where some samples lacked a metric the weight is
   * slightly off; reports carry every section, so this is rare and small.
   */
  private async rollHours(from: number, to: number, now: number): Promise<void> {
    const aggregates = sql.raw(
      METRICS.map((m) => `sum(m.${m}_avg * m.count) / nullif(sum(case when m.${m}_avg is not null then m.count else 0 end), 0), max(m.${m}_max)`).join(', '),
    );
    await sql`
      insert into metrics_hour (${rollupColumns})
      select m.machine_id, m.bucket - (m.bucket % ${sql.lit(HOUR_MS)}), sum(m.count), ${aggregates}, ${msParam(now)}, ${msParam(now)}
      from metrics_minute m
      join (select distinct machine_id, ts - (ts % ${sql.lit(HOUR_MS)}) as b from metrics_raw where created_at >= ${msParam(from)} and created_at < ${msParam(to)}) d
        on m.machine_id = d.machine_id and m.bucket >= d.b and m.bucket < d.b + ${sql.lit(HOUR_MS)}
      where true
      group by m.machine_id, m.bucket - (m.bucket % ${sql.lit(HOUR_MS)})
      on conflict (machine_id, bucket) do update set ${upsertSet}
    `.execute(this.deps.db);
  }

  /** Deletes rows with `column` below `cutoff`, at most about BATCH_ROWS per statement, by index range. */
  private async prune(table: 'metrics_raw' | 'metrics_minute' | 'metrics_hour', column: 'created_at' | 'bucket', cutoff: number): Promise<number> {
    const t = sql.table(table);
    const c = sql.ref(column);
    let deleted = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const boundary = await sql<{ v: number }>`select ${c} as v from ${t} where ${c} < ${msParam(cutoff)} order by ${c} limit 1 offset ${sql.lit(BATCH_ROWS)}`.execute(this.deps.db);
      const bound = boundary.rows[0]?.v;
      const upTo: RawBuilder<unknown> = bound === undefined ? sql`${c} < ${msParam(cutoff)}` : sql`${c} < ${msParam(Number(bound))}`;
      let result = await sql`delete from ${t} where ${upTo}`.execute(this.deps.db);
      // More than a batch share the boundary value: take that group whole so the loop advances.
      if (bound !== undefined && Number(result.numAffectedRows ?? 0) === 0) result = await sql`delete from ${t} where ${c} <= ${msParam(Number(bound))}`.execute(this.deps.db);
      deleted += Number(result.numAffectedRows ?? 0);
      if (bound === undefined) break;
    }
    return deleted;
  }
}
