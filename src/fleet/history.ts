import type { Kysely } from 'kysely';
import { Type, type Static } from 'typebox';
import type { Clock } from '../lib/clock.js';
import type { Database } from '../store/sql/tables.js';
import { fleetError } from './errors.js';
import { HOUR_MS } from './rollups.js';

export const HISTORY_METRICS = ['cpu', 'memory', 'swap', 'disk', 'netRx', 'netTx', 'load1'] as const;
export type HistoryMetric = (typeof HISTORY_METRICS)[number];
export const RESOLUTIONS = ['auto', 'raw', '1m', '1h'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/** Points per answer; a longer range at a fine resolution is cut and says so. */
export const MAX_POINTS = 20_000;
const DEFAULT_SPAN_MS = HOUR_MS;

// API metric name -> column; fixed table, never input.
const COLUMN = { cpu: 'cpu', memory: 'mem', swap: 'swap', disk: 'disk', netRx: 'netRx', netTx: 'netTx', load1: 'load1' } as const;

const Value = Type.Union([Type.Number(), Type.Null()]);

/** One answer of the history API; the route's response schema and the domain type both come from here. */
export const HistorySchema = Type.Object(
  {
    machineId: Type.String(),
    metric: Type.Enum(HISTORY_METRICS),
    resolution: Type.Enum(['raw', '1m', '1h'] as const),
    from: Type.Integer(),
    to: Type.Integer(),
    points: Type.Array(Type.Object({ t: Type.Integer(), avg: Value, max: Value }, { additionalProperties: false })),
    truncated: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type History = Static<typeof HistorySchema>;
export type HistoryPoint = History['points'][number];

/** `auto` picks raw up to 6 h, 1-minute buckets up to 7 days, hourly beyond. */
export function pickResolution(resolution: Resolution, spanMs: number): Exclude<Resolution, 'auto'> {
  if (resolution !== 'auto') return resolution;
  if (spanMs <= 6 * HOUR_MS) return 'raw';
  return spanMs <= 7 * 24 * HOUR_MS ? '1m' : '1h';
}

/** A machine's series over [from, to), read by its (machine_id, ts|bucket) key range. */
export class HistoryService {
  constructor(private readonly deps: { db: Kysely<Database>; clock: Clock }) {}

  async read(machineId: string, q: { from?: number; to?: number; metric?: HistoryMetric; resolution?: Resolution }): Promise<History> {
    const to = q.to ?? this.deps.clock.nowMs();
    const from = q.from ?? to - DEFAULT_SPAN_MS;
    if (from >= to) throw fleetError('invalid_query', { message: 'from must be before to' });
    const metric = q.metric ?? 'cpu';
    const resolution = pickResolution(q.resolution ?? 'auto', to - from);
    const { db } = this.deps;
    const machine = await db.selectFrom('machines').select('id').where('id', '=', machineId).executeTakeFirst();
    if (!machine) throw fleetError('machine_not_found');

    const column = COLUMN[metric];
    let points: HistoryPoint[];
    if (resolution === 'raw') {
      const rows = await db
        .selectFrom('metricsRaw')
        .select(['ts', column])
        .where('machineId', '=', machineId)
        .where('ts', '>=', from)
        .where('ts', '<', to)
        .orderBy('ts')
        .limit(MAX_POINTS + 1)
        .execute();
      points = rows.map((r) => ({ t: r.ts, avg: r[column], max: r[column] }));
    } else {
      const avg = `${column}Avg` as const;
      const max = `${column}Max` as const;
      const rows = await db
        .selectFrom(resolution === '1m' ? 'metricsMinute' : 'metricsHour')
        .select(['bucket', avg, max])
        .where('machineId', '=', machineId)
        .where('bucket', '>=', from)
        .where('bucket', '<', to)
        .orderBy('bucket')
        .limit(MAX_POINTS + 1)
        .execute();
      points = rows.map((r) => ({ t: r.bucket, avg: r[avg], max: r[max] }));
    }
    const truncated = points.length > MAX_POINTS;
    return { machineId, metric, resolution, from, to, points: truncated ? points.slice(0, MAX_POINTS) : points, truncated };
  }
}
