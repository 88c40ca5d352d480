import { useCallback } from 'react';
import type { MachineRow } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { VirtualList } from '../../components/VirtualList.js';
import { ago, percent } from '../../lib/format.js';
import { useNow } from '../../lib/useNow.js';
import type { MachineQuery, SortKey } from './useMachineList.js';

/** Must match `.machine-row` height in app.css. */
const ROW_HEIGHT = 48;
/** Fetch the next page when the view comes this close to the end of what is loaded. */
const PREFETCH_ROWS = 60;

interface Column {
  key: string;
  label: string;
  sort?: SortKey;
  className: string;
}

const COLUMNS: Column[] = [
  { key: 'hostname', label: 'Hostname', sort: 'hostname', className: 'col-host' },
  { key: 'status', label: 'Status', className: 'col-status' },
  { key: 'os', label: 'OS', className: 'col-os' },
  { key: 'cpu', label: 'CPU', sort: 'cpu', className: 'col-num' },
  { key: 'memory', label: 'Memory', sort: 'memory', className: 'col-num col-mem' },
  { key: 'disk', label: 'Disk', className: 'col-num col-disk' },
  { key: 'lastSeen', label: 'Last seen', sort: 'lastSeen', className: 'col-seen' },
  { key: 'tags', label: 'Tags', className: 'col-tags' },
];

interface Props {
  rows: MachineRow[];
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
  query: MachineQuery;
  onSort(sort: SortKey): void;
}

/**
 * The machine table: ARIA table semantics over a virtualized body, sortable
 * headers as buttons. Hostnames and tags come from agents and are rendered as
 * text only.
 */
export function MachineTable({ rows, hasMore, loadingMore, loadMore, query, onSort }: Props) {
  const now = useNow(15_000);
  const onRange = useCallback(
    (_start: number, end: number) => {
      if (hasMore && !loadingMore && end >= rows.length - PREFETCH_ROWS) loadMore();
    },
    [hasMore, loadingMore, rows.length, loadMore],
  );

  const renderRow = (index: number) => {
    const m = rows[index];
    if (!m) return null;
    return (
      <div key={m.id} className="machine-row" role="row" aria-rowindex={index + 2}>
        <span role="cell" className="col-host">
          <Link to={`/machines/${encodeURIComponent(m.id)}`} title={m.hostname}>
            {m.hostname}
          </Link>
        </span>
        <span role="cell" className="col-status">
          <StatusBadge status={m.status} />
        </span>
        <span role="cell" className="col-os" title={`${m.platform} (${m.arch})`}>
          {m.os}
        </span>
        <span role="cell" className="col-num">
          {percent(m.cpu)}
        </span>
        <span role="cell" className="col-num col-mem">
          {percent(m.memory)}
        </span>
        <span role="cell" className="col-num col-disk">
          {percent(m.disk)}
        </span>
        <span role="cell" className="col-seen">
          {ago(m.lastSeenAt, now)}
        </span>
        <span role="cell" className="col-tags">
          {m.tags.map((tag) => (
            <span key={tag} className="tag">
              {tag}
            </span>
          ))}
        </span>
      </div>
    );
  };

  return (
    <div className="machine-table" role="table" aria-label="Machines" aria-rowcount={rows.length + 1}>
      <div role="rowgroup">
        <div className="machine-row machine-head" role="row" aria-rowindex={1}>
          {COLUMNS.map((col) => {
            const active = col.sort !== undefined && query.sort === col.sort;
            return (
              <span key={col.key} role="columnheader" className={col.className} aria-sort={active ? (query.desc ? 'descending' : 'ascending') : col.sort ? 'none' : undefined}>
                {col.sort ? (
                  <button type="button" className="sort-button" onClick={() => onSort(col.sort as SortKey)}>
                    {col.label}
                    <span aria-hidden="true">{active ? (query.desc ? ' ▼' : ' ▲') : ''}</span>
                  </button>
                ) : (
                  col.label
                )}
              </span>
            );
          })}
        </div>
      </div>
      <VirtualList count={rows.length} rowHeight={ROW_HEIGHT} renderRow={renderRow} onRangeChange={onRange} label="Machine rows; scroll for more" className="machine-body" />
      <p className="table-foot" role="status">
        {rows.length.toLocaleString()} machine{rows.length === 1 ? '' : 's'} loaded{hasMore ? (loadingMore ? ', loading more…' : ', scroll for more') : ''}
      </p>
    </div>
  );
}
