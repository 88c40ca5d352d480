import { useEffect, useId, useMemo, useState } from 'react';
import { get } from '../../api/client.js';
import { useFleetEvents } from '../../api/events.js';
import type { FleetSummary, MachineStatus, Page, TagCount } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { roleAtLeast, useUser } from '../../app/session.js';
import { LiveIndicator } from '../../components/LiveIndicator.js';
import { Empty, ErrorState, Loading } from '../../components/States.js';
import { useResource } from '../../lib/useResource.js';
import { MachineTable } from './MachineTable.js';
import { Tiles } from './Tiles.js';
import { DEFAULT_QUERY, useMachineList, type MachineQuery, type SortKey } from './useMachineList.js';

const STATUSES: Array<{ value: MachineStatus | ''; label: string }> = [
  { value: '', label: 'Any status' },
  { value: 'online', label: 'Online' },
  { value: 'warning', label: 'Late' },
  { value: 'offline', label: 'Offline' },
  { value: 'decommissioned', label: 'Decommissioned' },
];
const SEARCH_DELAY_MS = 300;

function Select({ label, value, onChange, options }: { label: string; value: string; onChange(value: string): void; options: Array<{ value: string; label: string }> }) {
  const id = useId();
  return (
    <div className="field field-inline">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export function OverviewPage() {
  const user = useUser();
  const [query, setQuery] = useState<MachineQuery>(DEFAULT_QUERY);
  const [searchText, setSearchText] = useState('');
  const searchId = useId();
  const list = useMachineList(query);
  const summary = useResource((signal) => get<FleetSummary>('/api/fleet/summary', { signal }), []);
  const tags = useResource((signal) => get<Page<TagCount>>('/api/fleet/tags', { signal }), []);

  const live = useFleetEvents({
    machine: list.applyLive,
    summary: (s) => summary.setData(() => s),
  });

  // Search as you type, without a request per key stroke.
  useEffect(() => {
    const timer = setTimeout(() => setQuery((q) => (q.search === searchText ? q : { ...q, search: searchText })), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [searchText]);

  const osOptions = useMemo(() => {
    // The operating systems seen in what is loaded (the API has no list of them).
    const seen = new Set<string>();
    for (const row of list.rows.slice(0, 5000)) seen.add(row.os);
    if (query.os) seen.add(query.os);
    return [{ value: '', label: 'Any OS' }, ...[...seen].sort().map((os) => ({ value: os, label: os }))];
  }, [list.rows, query.os]);

  const tagOptions = useMemo(
    () => [{ value: '', label: 'Any tag' }, ...(tags.data?.items ?? []).map((t) => ({ value: t.tag, label: `${t.tag} (${t.count})` }))],
    [tags.data],
  );

  const onSort = (sort: SortKey) => setQuery((q) => ({ ...q, sort, desc: q.sort === sort ? !q.desc : sort !== 'hostname' }));
  const filtered = query.search !== '' || query.status !== '' || query.os !== '' || query.tag !== '';

  return (
    <section className="page">
      <div className="page-head">
        <h1>Fleet overview</h1>
        <LiveIndicator state={live} />
      </div>

      {summary.error && !summary.data ? <ErrorState title="The fleet summary is unavailable" error={summary.error} onRetry={summary.reload} /> : <Tiles summary={summary.data} />}

      <form className="filters" role="search" aria-label="Filter machines" onSubmit={(e) => e.preventDefault()}>
        <div className="field field-inline field-grow">
          <label htmlFor={searchId}>Search</label>
          <input id={searchId} type="search" placeholder="Hostname" value={searchText} onChange={(e) => setSearchText(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <Select label="Status" value={query.status} options={STATUSES} onChange={(status) => setQuery((q) => ({ ...q, status: status as MachineStatus | '' }))} />
        <Select label="OS" value={query.os} options={osOptions} onChange={(os) => setQuery((q) => ({ ...q, os }))} />
        <Select label="Tag" value={query.tag} options={tagOptions} onChange={(tag) => setQuery((q) => ({ ...q, tag }))} />
        {filtered && (
          <button
            type="button"
            onClick={() => {
              setSearchText('');
              setQuery((q) => ({ ...DEFAULT_QUERY, sort: q.sort, desc: q.desc }));
            }}
          >
            Clear filters
          </button>
        )}
      </form>

      {list.phase === 'loading' && <Loading label="Loading machines…" />}
      {list.phase === 'error' && <ErrorState title="The machine list is unavailable" error={list.error} onRetry={list.reload} />}
      {list.phase === 'ready' && list.rows.length === 0 && !filtered && (
        <Empty title="No machines yet">
          {roleAtLeast(user.role, 'admin') ? (
            <p>
              Create an enrollment token on the <Link to="/admin/enrollment">Enrollment</Link> page and run the command it shows on each machine.
            </p>
          ) : (
            <p>Machines appear here once an administrator enrolls them.</p>
          )}
        </Empty>
      )}
      {list.phase === 'ready' && list.rows.length === 0 && filtered && <Empty title="No machines match these filters" />}
      {list.phase === 'ready' && list.rows.length > 0 && (
        <MachineTable rows={list.rows} hasMore={list.hasMore} loadingMore={list.loadingMore} loadMore={list.loadMore} query={query} onSort={onSort} />
      )}
      {list.phase === 'ready' && list.error !== null && <ErrorState title="More machines could not be loaded" error={list.error} onRetry={list.loadMore} />}
    </section>
  );
}
