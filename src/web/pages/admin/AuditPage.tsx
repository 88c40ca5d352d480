import { useId, useState, type FormEvent } from 'react';
import { describeError, get } from '../../api/client.js';
import type { AuditEntry, VerifyResult } from '../../api/security.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';

interface Filters {
  action: string;
  actor: string;
  success: '' | 'true' | 'false';
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { action: '', actor: '', success: '', from: '', to: '' };

/** `datetime-local` values are local wall-clock time; the API takes epoch milliseconds. */
function epochOf(local: string): number | undefined {
  if (!local) return undefined;
  const ms = new Date(local).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

function queryOf(f: Filters): Record<string, string | number | undefined> {
  return { action: f.action.trim() || undefined, actor: f.actor.trim() || undefined, success: f.success || undefined, from: epochOf(f.from), to: epochOf(f.to) };
}

function exportHref(format: 'csv' | 'json', f: Filters): string {
  const params = new URLSearchParams({ format });
  for (const [key, value] of Object.entries(queryOf(f))) if (value !== undefined) params.set(key, String(value));
  return `/api/admin/audit/export?${params.toString()}`;
}

function VerifyChain() {
  const [state, setState] = useState<{ kind: 'idle' } | { kind: 'busy' } | { kind: 'done'; result: VerifyResult } | { kind: 'error'; error: unknown }>({ kind: 'idle' });
  const verify = async () => {
    setState({ kind: 'busy' });
    try {
      setState({ kind: 'done', result: await get<VerifyResult>('/api/admin/audit/verify') });
    } catch (error) {
      setState({ kind: 'error', error });
    }
  };
  return (
    <div className="card">
      <div className="card-head">
        <h2>Chain integrity</h2>
        <button type="button" onClick={() => void verify()} disabled={state.kind === 'busy'}>
          {state.kind === 'busy' ? 'Verifying…' : 'Verify chain'}
        </button>
      </div>
      {state.kind === 'done' && state.result.ok && (
        <Notice kind="ok">
          Chain OK: {state.result.count} entries verified{state.result.lastSeq !== null && <> up to #{state.result.lastSeq}</>}
          {state.result.head && (
            <>
              , last hash <code className="hash">{state.result.head}</code>
            </>
          )}
          .
        </Notice>
      )}
      {state.kind === 'done' && !state.result.ok && (
        <Notice kind="error">
          Chain broken at entry #{state.result.broken?.seq ?? '?'}: {state.result.broken?.reason ?? 'unknown reason'} ({state.result.count} entries verified before it).
        </Notice>
      )}
      {state.kind === 'error' && <Notice kind="error">{describeError(state.error)}</Notice>}
    </div>
  );
}

/** The tamper-evident audit log: filter, page through, verify the hash chain, export. */
export function AuditPage() {
  const id = useId();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const list = usePagedList<AuditEntry>('/api/admin/audit', { query: queryOf(filters), pageSize: 50 });

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters(draft);
  };
  const set = (key: keyof Filters) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));

  return (
    <section className="page">
      <div className="page-head">
        <h1>Audit log</h1>
        <div className="actions">
          <a className="button-link" href={exportHref('csv', filters)} download>
            Export CSV
          </a>
          <a className="button-link" href={exportHref('json', filters)} download>
            Export JSON
          </a>
        </div>
      </div>
      <VerifyChain />
      <form className="filters" role="search" aria-label="Filter the audit log" onSubmit={apply}>
        <div className="field field-inline">
          <label htmlFor={`${id}-action`}>Action</label>
          <input id={`${id}-action`} value={draft.action} onChange={(e) => set('action')(e.target.value)} placeholder="login_succeeded" autoComplete="off" spellCheck={false} />
        </div>
        <div className="field field-inline">
          <label htmlFor={`${id}-actor`}>Actor</label>
          <input id={`${id}-actor`} value={draft.actor} onChange={(e) => set('actor')(e.target.value)} placeholder="User or agent id" autoComplete="off" spellCheck={false} />
        </div>
        <div className="field field-inline">
          <label htmlFor={`${id}-success`}>Outcome</label>
          <select id={`${id}-success`} value={draft.success} onChange={(e) => set('success')(e.target.value)}>
            <option value="">Any</option>
            <option value="true">Succeeded</option>
            <option value="false">Failed</option>
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor={`${id}-from`}>From</label>
          <input id={`${id}-from`} type="datetime-local" value={draft.from} onChange={(e) => set('from')(e.target.value)} />
        </div>
        <div className="field field-inline">
          <label htmlFor={`${id}-to`}>To</label>
          <input id={`${id}-to`} type="datetime-local" value={draft.to} onChange={(e) => set('to')(e.target.value)} />
        </div>
        <button type="submit" className="button-primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
          }}
        >
          Clear
        </button>
      </form>
      {list.loading && list.items.length === 0 && <Loading label="Loading the audit log…" />}
      {list.error !== null && <ErrorState error={list.error} onRetry={list.reload} />}
      {!list.loading && list.error === null && list.items.length === 0 && <Empty title="No audit entries match these filters" />}
      {list.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col" className="num">
                  #
                </th>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Address</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <tr key={e.seq}>
                  <td className="num">{e.seq}</td>
                  <td>{dateTime(e.ts)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td className="wrap">
                    {e.actorType}
                    {e.actorId && <span className="muted"> {e.actorId}</span>}
                  </td>
                  <td>{e.actorIp ?? '—'}</td>
                  <td className="wrap">{e.resourceType ? `${e.resourceType}${e.resourceId ? ` ${e.resourceId}` : ''}` : '—'}</td>
                  <td>{e.success ? <span className="badge badge-online">OK</span> : <span className="badge badge-offline">{e.error ?? 'Failed'}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.hasMore && (
        <button type="button" onClick={list.loadMore} disabled={list.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
