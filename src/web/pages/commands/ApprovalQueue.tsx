import { useState } from 'react';
import { api, describeError } from '../../api/client.js';
import type { CommandRequest, User } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Empty, ErrorState, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';
import { actionLabel, targetLabel } from './labels.js';

/**
 * High-risk requests waiting for admins. The server refuses a decision on one's
 * own request or a second decision; the queue does not offer them either.
 */
export function ApprovalQueue({ user, onDecided }: { user: User; onDecided(request: CommandRequest): void }) {
  const pending = usePagedList<CommandRequest>('/api/commands', { query: { state: 'pending_approval' }, pageSize: 50 });
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const decide = async (request: CommandRequest, decision: 'approve' | 'reject') => {
    setMessage(null);
    try {
      const updated = await api<CommandRequest>('POST', `/api/commands/${encodeURIComponent(request.id)}/${decision}`, { body: {} });
      pending.update((items) => items.filter((r) => r.id !== request.id || updated.state === 'pending_approval').map((r) => (r.id === updated.id ? updated : r)));
      setMessage({ kind: 'ok', text: `${decision === 'approve' ? 'Approved' : 'Rejected'} ${actionLabel(request.action)} (${targetLabel(request.target)}).` });
      onDecided(updated);
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  return (
    <section className="card" aria-labelledby="approval-queue">
      <h2 id="approval-queue">Approval queue</h2>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {pending.error !== null && <ErrorState error={pending.error} onRetry={pending.reload} />}
      {!pending.loading && pending.error === null && pending.items.length === 0 && <Empty title="Nothing waits for approval" />}
      {pending.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Requests waiting for approval</caption>
            <thead>
              <tr>
                <th scope="col">Action</th>
                <th scope="col">Targets</th>
                <th scope="col">Approvals</th>
                <th scope="col">Decide before</th>
                <th scope="col">Decision</th>
              </tr>
            </thead>
            <tbody>
              {pending.items.map((r) => {
                const own = r.requestedBy === user.id;
                const decided = r.approvals.some((a) => a.userId === user.id);
                return (
                  <tr key={r.id}>
                    <td>
                      <Link to={`/commands/${encodeURIComponent(r.id)}`}>{actionLabel(r.action)}</Link>
                    </td>
                    <td>{targetLabel(r.target)}</td>
                    <td className="num">
                      {r.approvals.filter((a) => a.decision === 'approved').length} of {r.approvalsRequired}
                    </td>
                    <td>{dateTime(r.approvalExpiresAt)}</td>
                    <td>
                      {own ? (
                        <span className="muted">Your request: another admin decides</span>
                      ) : decided ? (
                        <span className="muted">You decided</span>
                      ) : (
                        <div className="actions">
                          <ConfirmButton label="Approve" question="Approve this command?" danger={false} onConfirm={() => decide(r, 'approve')} />
                          <ConfirmButton label="Reject" question="Reject this command?" onConfirm={() => decide(r, 'reject')} />
                        </div>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pending.hasMore && (
        <button type="button" onClick={pending.loadMore} disabled={pending.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
