import { useCallback, useEffect, useMemo, useState } from 'react';
import { get } from '../../api/client.js';
import type { History, HistoryMetric, MachineRow } from '../../api/types.js';
import { TimeSeriesChart } from '../../components/TimeSeriesChart.js';
import { Empty, ErrorState, Loading } from '../../components/States.js';
import { percent, rate } from '../../lib/format.js';

const HOUR = 3_600_000;
export const RANGES = [
  { key: '1h', label: '1 h', ms: HOUR },
  { key: '24h', label: '24 h', ms: 24 * HOUR },
  { key: '7d', label: '7 d', ms: 7 * 24 * HOUR },
  { key: '30d', label: '30 d', ms: 30 * 24 * HOUR },
] as const;
type RangeKey = (typeof RANGES)[number]['key'];

const METRICS: HistoryMetric[] = ['cpu', 'memory', 'disk', 'netRx', 'netTx'];
/** Longer ranges are rollups; poll them now and then instead of appending live points (each poll is five requests). */
const ROLLUP_POLL_MS = 5 * 60_000;

interface Series {
  t: number[];
  v: Array<number | null>;
}
type SeriesSet = Record<HistoryMetric, Series>;

const emptySeries = (): Series => ({ t: [], v: [] });

function toSeries(history: History): Series {
  return { t: history.points.map((p) => p.t), v: history.points.map((p) => p.avg) };
}

/** Two series on one time axis (received and sent share the network chart). */
function merge(a: Series, b: Series): { t: number[]; a: Array<number | null>; b: Array<number | null> } {
  const times = [...new Set([...a.t, ...b.t])].sort((x, y) => x - y);
  const av = new Map(a.t.map((t, i) => [t, a.v[i] ?? null]));
  const bv = new Map(b.t.map((t, i) => [t, b.v[i] ?? null]));
  return { t: times, a: times.map((t) => av.get(t) ?? null), b: times.map((t) => bv.get(t) ?? null) };
}

function appendPoint(series: Series, t: number, value: number | null, from: number): Series {
  const last = series.t[series.t.length - 1];
  if (last !== undefined && t <= last) return series;
  let start = 0;
  while (start < series.t.length && (series.t[start] as number) < from) start++;
  return { t: [...series.t.slice(start), t], v: [...series.v.slice(start), value] };
}

/** The machine's cpu, memory, disk and network over a chosen range; the 1 h view grows with each live report. */
export function Charts({ machineId, liveRow }: { machineId: string; liveRow: MachineRow | null }) {
  const [range, setRange] = useState<RangeKey>('1h');
  const [data, setData] = useState<SeriesSet | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [polls, setPolls] = useState(0);
  const [shown, setShown] = useState<[number, number]>(() => [Date.now() - HOUR, Date.now()]);
  const span = RANGES.find((r) => r.key === range)?.ms ?? HOUR;

  useEffect(() => {
    const controller = new AbortController();
    const to = Date.now();
    const from = to - span;
    setLoading(true);
    setError(null);
    Promise.all(
      METRICS.map((metric) =>
        get<History>(`/api/fleet/machines/${encodeURIComponent(machineId)}/history`, { query: { from, to, metric, resolution: 'auto' }, signal: controller.signal }),
      ),
    )
      .then((answers) => {
        const set = Object.fromEntries(METRICS.map((m) => [m, emptySeries()])) as SeriesSet;
        answers.forEach((h, i) => (set[METRICS[i] as HistoryMetric] = toSeries(h)));
        setData(set);
        setShown([from, to]);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [machineId, span, polls]);

  useEffect(() => {
    if (range === '1h') return;
    const timer = setInterval(() => setPolls((n) => n + 1), ROLLUP_POLL_MS);
    return () => clearInterval(timer);
  }, [range]);

  const appendLive = useCallback(
    (row: MachineRow) => {
      if (range !== '1h' || row.lastSeenAt === null) return;
      const t = row.lastSeenAt;
      const now = Date.now();
      const from = now - span;
      setShown([from, Math.max(now, t)]);
      setData((set) =>
        set
          ? {
              ...set,
              cpu: appendPoint(set.cpu, t, row.cpu, from),
              memory: appendPoint(set.memory, t, row.memory, from),
              disk: appendPoint(set.disk, t, row.disk, from),
              netRx: appendPoint(set.netRx, t, row.netRx, from),
              netTx: appendPoint(set.netTx, t, row.netTx, from),
            }
          : set,
      );
    },
    [range, span],
  );

  useEffect(() => {
    if (liveRow) appendLive(liveRow);
  }, [liveRow, appendLive]);

  const network = useMemo(() => (data ? merge(data.netRx, data.netTx) : null), [data]);
  const cpu = useMemo(() => (data ? [{ label: 'CPU', values: data.cpu.v }] : []), [data]);
  const memory = useMemo(() => (data ? [{ label: 'Memory', values: data.memory.v }] : []), [data]);
  const disk = useMemo(() => (data ? [{ label: 'Disk', values: data.disk.v }] : []), [data]);
  const net = useMemo(
    () => (network ? [{ label: 'Received', values: network.a }, { label: 'Sent', values: network.b }] : []),
    [network],
  );
  const noData = data !== null && METRICS.every((m) => data[m].t.length === 0);

  return (
    <section className="card charts" aria-labelledby="charts-title">
      <div className="card-head">
        <h2 id="charts-title">Metrics</h2>
        <div className="segmented" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r.key} type="button" aria-pressed={range === r.key} onClick={() => setRange(r.key)}>
              {r.label}
            </button>
          ))}
        </div>
      </div>
      {loading && !data && <Loading label="Loading metrics…" />}
      {error !== null && <ErrorState title="Metrics history is unavailable" error={error} onRetry={() => setPolls((n) => n + 1)} />}
      {noData && !loading && <Empty title="No data in this range">Charts fill in as the agent reports.</Empty>}
      {data && !noData && network && (
        <div className="chart-grid" aria-busy={loading}>
          <TimeSeriesChart title="CPU" timestamps={data.cpu.t} series={cpu} format={percent} range={[0, 100]} window={shown} />
          <TimeSeriesChart title="Memory" timestamps={data.memory.t} series={memory} format={percent} range={[0, 100]} window={shown} />
          <TimeSeriesChart title="Disk (fullest)" timestamps={data.disk.t} series={disk} format={percent} range={[0, 100]} window={shown} />
          <TimeSeriesChart title="Network" timestamps={network.t} series={net} format={rate} window={shown} />
        </div>
      )}
    </section>
  );
}
