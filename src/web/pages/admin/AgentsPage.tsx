import { useState } from 'react';
import { api, describeError } from '../../api/client.js';
import type { Agent } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { ago, dateTime } from '../../lib/format.js';
import { useNow } from '../../lib/useNow.js';
import { usePagedList } from '../../lib/usePagedList.js';

/**
 * Enrolled agents and what an admin can do to them: revoke the API key (the
 * agent stops being accepted), rotate the sealing key (the agent picks up the
 * new one with its next report) and decommission the machine.
 */
export function AgentsPage() {
  const agents = usePagedList<Agent>('/api/admin/agents');
  const now = useNow(15_000);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const act = async (agent: Agent, action: 'revoke' | 'rotate' | 'decommission') => {
    setMessage(null);
    try {
      const path = `/api/admin/agents/${encodeURIComponent(agent.id)}/${action}`;
      if (action === 'revoke') {
        const updated = await api<Agent>('POST', path, { body: {} });
        agents.update((items) => items.map((a) => (a.id === agent.id ? updated : a)));
        setMessage({ kind: 'ok', text: `Revoked the agent of ${agent.hostname}. It can no longer report.` });
      } else if (action === 'rotate') {
        const rotated = await api<{ kid: number }>('POST', path, { body: {} });
        agents.update((items) => items.map((a) => (a.id === agent.id ? { ...a, kid: rotated.kid } : a)));
        setMessage({ kind: 'ok', text: `Rotated the sealing key of ${agent.hostname} to version ${rotated.kid}; the agent receives it with its next report.` });
      } else {
        await api('POST', path, { body: {} });
        agents.update((items) => items.map((a) => (a.id === agent.id ? { ...a, status: 'decommissioned' } : a)));
        setMessage({ kind: 'ok', text: `Decommissioned ${agent.hostname}.` });
      }
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  return (
    <section className="page">
      <h1>Agents</h1>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {agents.loading && agents.items.length === 0 && <Loading label="Loading agents…" />}
      {agents.error !== null && <ErrorState error={agents.error} onRetry={agents.reload} />}
      {!agents.loading && agents.error === null && agents.items.length === 0 && <Empty title="No agents enrolled yet" />}
      {agents.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Enrolled agents</caption>
            <thead>
              <tr>
                <th scope="col">Machine</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Key version
                </th>
                <th scope="col">Last seen</th>
                <th scope="col">Last address</th>
                <th scope="col">Enrolled</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {agents.items.map((a) => {
                const revoked = a.revokedAt !== null;
                const gone = a.status === 'decommissioned';
                return (
                  <tr key={a.id}>
                    <td className="wrap host-cell">
                      <Link to={`/machines/${encodeURIComponent(a.id)}`}>{a.hostname}</Link>
                    </td>
                    <td>{revoked ? <span className="badge badge-offline">Revoked</span> : <StatusBadge status={a.status} />}</td>
                    <td className="num">{a.kid}</td>
                    <td>{ago(a.lastSeenAt, now)}</td>
                    <td>{a.lastIp ?? '—'}</td>
                    <td>{dateTime(a.enrolledAt)}</td>
                    <td>
                      <div className="actions">
                        <ConfirmButton label="Rotate key" question="Rotate the sealing key?" danger={false} disabled={revoked || gone} onConfirm={() => act(a, 'rotate')} />
                        <ConfirmButton label="Revoke" question="Revoke this agent?" disabled={revoked} onConfirm={() => act(a, 'revoke')} />
                        <ConfirmButton label="Decommission" question="Decommission this machine?" disabled={gone} onConfirm={() => act(a, 'decommission')} />
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {agents.hasMore && (
        <button type="button" onClick={agents.loadMore} disabled={agents.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
