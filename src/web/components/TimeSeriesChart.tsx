import { useEffect, useId, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
}

interface ChartProps {
  title: string;
  /** Milliseconds since the epoch, ascending. */
  timestamps: number[];
  series: ChartSeries[];
  format: (value: number | null) => string;
  /** Fixed y range, e.g. [0, 100] for percentages. */
  range?: [number, number];
  /** The time window shown, in ms, so an hour with three points still reads as an hour. */
  window?: [number, number];
}

const HEIGHT = 180;

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Light and dark come from the stylesheet; the chart is redrawn when the scheme changes. */
function useColorScheme(): string {
  const query = '(prefers-color-scheme: dark)';
  const [scheme, setScheme] = useState(() => (window.matchMedia(query).matches ? 'dark' : 'light'));
  useEffect(() => {
    const media = window.matchMedia(query);
    const onChange = () => setScheme(media.matches ? 'dark' : 'light');
    media.addEventListener('change', onChange);
    return () => media.removeEventListener('change', onChange);
  }, []);
  return scheme;
}

function summaryOf(series: ChartSeries[], format: ChartProps['format']): string {
  return series
    .map((s) => {
      const values = s.values.filter((v): v is number => v !== null && Number.isFinite(v));
      if (values.length === 0) return `${s.label}: no data`;
      return `${s.label}: latest ${format(values[values.length - 1] ?? null)}, peak ${format(Math.max(...values))}`;
    })
    .join('; ');
}

/** A uPlot time series with a text summary for screen readers. */
export function TimeSeriesChart({ title, timestamps, series, format, range, window: span }: ChartProps) {
  const titleId = useId();
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const spanRef = useRef(span);
  const scheme = useColorScheme();
  const seriesKey = series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    const palette = [cssVar('--chart-1', '#2563eb'), cssVar('--chart-2', '#d97706'), cssVar('--chart-3', '#059669')];
    const axis = { stroke: cssVar('--muted', '#6b7280'), grid: { stroke: cssVar('--grid', '#e5e7eb'), width: 1 }, ticks: { stroke: cssVar('--grid', '#e5e7eb'), width: 1 } };
    const labels = seriesKey.split('|');
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { show: labels.length > 1 },
      scales: {
        x: { time: true, range: (_u, min, max) => (spanRef.current ? [spanRef.current[0] / 1000, spanRef.current[1] / 1000] : [min, max]) },
        y: range ? { range } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axis },
        { ...axis, size: 70, values: (_u, ticks) => ticks.map((t) => format(t)) },
      ],
      series: [{}, ...labels.map((label, i) => ({ label, stroke: palette[i % palette.length], width: 2, value: (_u: uPlot, v: number | null) => format(v) }))],
    };
    const u = new uPlot(opts, [[], ...labels.map(() => [])] as unknown as uPlot.AlignedData, el);
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: HEIGHT }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
    };
    // format and range are fixed per chart; a new label set or colour scheme rebuilds it.
  }, [seriesKey, scheme]);

  useEffect(() => {
    spanRef.current = span;
    plot.current?.setData([timestamps.map((t) => t / 1000), ...series.map((s) => s.values)] as unknown as uPlot.AlignedData);
  }, [timestamps, series, seriesKey, scheme, span]);

  return (
    <figure className="chart" aria-labelledby={titleId} data-points={timestamps.length}>
      <figcaption id={titleId}>{title}</figcaption>
      <div ref={holder} className="chart-canvas" aria-hidden="true" />
      <p className="visually-hidden">{summaryOf(series, format)}</p>
    </figure>
  );
}
