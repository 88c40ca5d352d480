import { useEffect, useRef, useState } from 'react';
import { ApiError, get } from '../../api/client.js';
import { useFleetEvents } from '../../api/events.js';
import type { MachineDetail, MachineRow } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { roleAtLeast, useUser } from '../../app/session.js';
import { LiveIndicator } from '../../components/LiveIndicator.js';
import { ErrorState, Loading } from '../../components/States.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { ago, percent } from '../../lib/format.js';
import { useNow } from '../../lib/useNow.js';
import { useResource } from '../../lib/useResource.js';
import { Charts } from './Charts.js';
import { CommandHistory } from './CommandHistory.js';
import { Disks, Facts, Interfaces } from './Facts.js';
import { Processes } from './Processes.js';
import { TagEditor } from './TagEditor.js';

/** Processes and disks come only with the full detail; refetch it at most this often while reports arrive. */
const DETAIL_REFRESH_MS = 60_000;

export function MachinePage({ id }: { id: string }) {
  const user = useUser();
  const now = useNow(10_000);
  const detail = useResource((signal) => get<MachineDetail>(`/api/fleet/machines/${encodeURIComponent(id)}`, { signal }), [id]);
  const [liveRow, setLiveRow] = useState<MachineRow | null>(null);
  const lastDetail = useRef(Date.now());

  const live = useFleetEvents({
    machine: (row) => {
      if (row.id !== id) return;
      setLiveRow(row);
      detail.setData((d) => (d ? { ...d, ...row } : d));
      if (Date.now() - lastDetail.current > DETAIL_REFRESH_MS) {
        lastDetail.current = Date.now();
        detail.reload();
      }
    },
  });

  const machine = detail.data;
  useEffect(() => {
    if (machine) document.title = `${machine.hostname} · Flotilla`;
  }, [machine]);

  if (!machine) {
    if (detail.error) {
      const missing = detail.error instanceof ApiError && detail.error.status === 404 && detail.error.code !== 'not_found';
      return (
        <section className="page">
          <p>
            <Link to="/">← Fleet overview</Link>
          </p>
          <h1>{missing ? 'No such machine' : 'Machine'}</h1>
          {missing ? <p>This machine does not exist, or it was removed.</p> : <ErrorState error={detail.error} onRetry={detail.reload} />}
        </section>
      );
    }
    return <Loading label="Loading machine…" />;
  }

  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">← Fleet overview</Link>
      </p>
      <div className="page-head">
        <h1 className="machine-title">{machine.hostname}</h1>
        <StatusBadge status={machine.status} />
        <LiveIndicator state={live} />
      </div>
      <p className="muted">
        {machine.os} · {machine.platform} · {machine.arch} · last seen {ago(machine.lastSeenAt, now)} · CPU {percent(machine.cpu)} · memory {percent(machine.memory)} · disk {percent(machine.disk)}
      </p>
      {detail.error !== null && <ErrorState title="Could not refresh this machine" error={detail.error} onRetry={detail.reload} />}
      <Charts machineId={machine.id} liveRow={liveRow} />
      <div className="card-grid">
        <Facts machine={machine} />
        <TagEditor machineId={machine.id} tags={machine.tags} editable={roleAtLeast(user.role, 'operator')} onSaved={(tags) => detail.setData((d) => (d ? { ...d, tags } : d))} />
      </div>
      <Processes processes={machine.latest?.processes} />
      <div className="card-grid">
        <Disks machine={machine} />
        <Interfaces machine={machine} />
      </div>
      <CommandHistory machineId={machine.id} />
    </section>
  );
}
