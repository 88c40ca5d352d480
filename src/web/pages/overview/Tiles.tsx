import type { FleetSummary } from '../../api/types.js';
import { count, percent } from '../../lib/format.js';

function Tile({ label, value, tone }: { label: string; value: string; tone?: string }) {
  return (
    <div className={`tile${tone ? ` tile-${tone}` : ''}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

/** Fleet totals and averages (means over machines that are reporting). */
export function Tiles({ summary }: { summary: FleetSummary | null }) {
  const v = (n: number | undefined) => (summary ? count(n) : '…');
  const a = (n: number | null | undefined) => (summary ? percent(n) : '…');
  return (
    <dl className="tiles" aria-label="Fleet summary" aria-busy={summary === null}>
      <Tile label="Machines" value={v(summary?.total)} />
      <Tile label="Online" value={v(summary?.online)} tone="online" />
      <Tile label="Late" value={v(summary?.warning)} tone="warning" />
      <Tile label="Offline" value={v(summary?.offline)} tone="offline" />
      <Tile label="Average CPU" value={a(summary?.averages.cpu)} />
      <Tile label="Average memory" value={a(summary?.averages.memory)} />
      <Tile label="Average disk" value={a(summary?.averages.disk)} />
    </dl>
  );
}
