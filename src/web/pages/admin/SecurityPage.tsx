import { useState } from 'react';
import { api, describeError, get } from '../../api/client.js';
import type { AuditEntry, IpBlock } from '../../api/security.js';
import type { Page } from '../../api/types.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';
import { useResource } from '../../lib/useResource.js';

const REASONS: Record<IpBlock['reason'], string> = { not_found: 'Scanning (many 404s)', auth_failures: 'Repeated failed sign-ins' };

function Blocks() {
  const blocks = useResource((signal) => get<Page<IpBlock>>('/api/admin/security/blocks', { signal }), []);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const lift = async (block: IpBlock) => {
    setMessage(null);
    try {
      await api('DELETE', `/api/admin/security/blocks/${encodeURIComponent(block.ip)}`);
      blocks.setData((page) => (page ? { ...page, items: page.items.filter((b) => b.ip !== block.ip) } : page));
      setMessage({ kind: 'ok', text: `Lifted the block on ${block.ip}.` });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  const items = blocks.data?.items ?? [];
  return (
    <div className="card">
      <div className="card-head">
        <h2>Blocked addresses</h2>
        <button type="button" onClick={blocks.reload} disabled={blocks.loading}>
          Refresh
        </button>
      </div>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {blocks.loading && !blocks.data && <Loading label="Loading blocks…" />}
      {blocks.error !== null && <ErrorState error={blocks.error} onRetry={blocks.reload} />}
      {blocks.data && items.length === 0 && <Empty title="No addresses are blocked" />}
      {items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Blocked addresses</caption>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Reason</th>
                <th scope="col" className="num">
                  Count
                </th>
                <th scope="col">Blocked</th>
                <th scope="col">Expires</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((b) => (
                <tr key={b.ip}>
                  <td>
                    <code>{b.ip}</code>
                  </td>
                  <td>{REASONS[b.reason]}</td>
                  <td className="num">{b.count}</td>
                  <td>{dateTime(b.blockedAt)}</td>
                  <td>{dateTime(b.expiresAt)}</td>
                  <td>
                    <ConfirmButton label="Lift" question={`Lift the block on ${b.ip}?`} onConfirm={() => lift(b)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Events() {
  const events = usePagedList<AuditEntry>('/api/admin/security/events', { pageSize: 50 });
  return (
    <div className="card">
      <div className="card-head">
        <h2>Recent security events</h2>
        <button type="button" onClick={events.reload} disabled={events.loading}>
          Refresh
        </button>
      </div>
      {events.loading && events.items.length === 0 && <Loading label="Loading security events…" />}
      {events.error !== null && <ErrorState error={events.error} onRetry={events.reload} />}
      {!events.loading && events.error === null && events.items.length === 0 && <Empty title="No security events yet" />}
      {events.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Security events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Actor</th>
                <th scope="col">Address</th>
                <th scope="col">Resource</th>
              </tr>
            </thead>
            <tbody>
              {events.items.map((e) => (
                <tr key={e.seq}>
                  <td>{dateTime(e.ts)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td className="wrap">{e.actorId ?? e.actorType}</td>
                  <td>{e.actorIp ?? '—'}</td>
                  <td className="wrap">{e.resourceType ? `${e.resourceType}${e.resourceId ? ` ${e.resourceId}` : ''}` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {events.hasMore && (
        <button type="button" onClick={events.loadMore} disabled={events.loading}>
          Load more
        </button>
      )}
    </div>
  );
}

/** What the perimeter and the detection rules have seen: blocked addresses (with a way to lift them) and recent events. */
export function SecurityPage() {
  return (
    <section className="page">
      <h1>Security</h1>
      <Blocks />
      <Events />
    </section>
  );
}
