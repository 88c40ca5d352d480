import { useState } from 'react';
import type { CommandRequest, CommandRequestState } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { roleAtLeast, useUser } from '../../app/session.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';
import { ApprovalQueue } from './ApprovalQueue.js';
import { actionLabel, REQUEST_STATE_LABELS, targetLabel } from './labels.js';
import { NewCommandForm } from './NewCommandForm.js';

/**
 * Remote commands: operators and admins request them, admins decide the
 * high-risk ones, everyone signed in sees the requests and their states.
 */
export function CommandsPage() {
  const user = useUser();
  const canRequest = roleAtLeast(user.role, 'operator');
  const isAdmin = roleAtLeast(user.role, 'admin');
  const [state, setState] = useState<CommandRequestState | ''>('');
  const requests = usePagedList<CommandRequest>('/api/commands', { query: { state: state || undefined }, pageSize: 50 });
  // A new request may be one to decide: the queue reads again (a new key remounts it).
  const [queueVersion, setQueueVersion] = useState(0);
  const [created, setCreated] = useState<CommandRequest | null>(null);

  const onCreated = (request: CommandRequest) => {
    setCreated(request);
    requests.reload();
    setQueueVersion((n) => n + 1);
  };

  return (
    <section className="page">
      <h1>Commands</h1>
      {canRequest ? (
        <section className="card">
          <NewCommandForm onCreated={onCreated} />
          {created && (
            <Notice kind="ok">
              {created.state === 'pending_approval' ? 'Requested' : 'Sent'} {actionLabel(created.action)} to {targetLabel(created.target)}.{' '}
              <Link to={`/commands/${encodeURIComponent(created.id)}`}>Follow its progress</Link>
            </Notice>
          )}
        </section>
      ) : (
        <p className="muted">You can follow requests and their states; operators and admins send commands.</p>
      )}
      {isAdmin && <ApprovalQueue key={queueVersion} user={user} onDecided={() => requests.reload()} />}
      <section className="card" aria-labelledby="request-list">
        <div className="card-head">
          <h2 id="request-list">Requests</h2>
          <label>
            State{' '}
            <select value={state} onChange={(e) => setState(e.target.value as CommandRequestState | '')}>
              <option value="">All</option>
              {Object.entries(REQUEST_STATE_LABELS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
        </div>
        {requests.loading && requests.items.length === 0 && <Loading label="Loading requests…" />}
        {requests.error !== null && <ErrorState error={requests.error} onRetry={requests.reload} />}
        {!requests.loading && requests.error === null && requests.items.length === 0 && <Empty title="No command requests yet" />}
        {requests.items.length > 0 && (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Command requests</caption>
              <thead>
                <tr>
                  <th scope="col">Action</th>
                  <th scope="col">Targets</th>
                  <th scope="col">State</th>
                  <th scope="col">Requested</th>
                  <th scope="col">By</th>
                </tr>
              </thead>
              <tbody>
                {requests.items.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link to={`/commands/${encodeURIComponent(r.id)}`}>{actionLabel(r.action)}</Link>
                    </td>
                    <td>{targetLabel(r.target)}</td>
                    <td>
                      <span className={`badge badge-command-${r.state}`}>{REQUEST_STATE_LABELS[r.state]}</span>
                    </td>
                    <td>{dateTime(r.createdAt)}</td>
                    <td>{r.requestedBy === user.id ? 'you' : <span className="hash">{r.requestedBy.slice(0, 8)}</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {requests.hasMore && (
          <button type="button" onClick={requests.loadMore} disabled={requests.loading}>
            Load more
          </button>
        )}
      </section>
    </section>
  );
}
