import type { MachineCommand } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { Empty, ErrorState } from '../../components/States.js';
import { dateTime, DASH } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';
import { actionLabel, COMMAND_STATE_LABELS } from '../commands/labels.js';

/** The commands this machine was sent, newest first: states only, outputs stay on the request's page. */
export function CommandHistory({ machineId }: { machineId: string }) {
  const commands = usePagedList<MachineCommand>(`/api/fleet/machines/${encodeURIComponent(machineId)}/commands`, { pageSize: 20 });
  return (
    <section className="card" aria-labelledby="machine-commands">
      <h2 id="machine-commands">Commands</h2>
      {commands.error !== null && <ErrorState error={commands.error} onRetry={commands.reload} />}
      {!commands.loading && commands.error === null && commands.items.length === 0 && <Empty title="No commands sent to this machine" />}
      {commands.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Commands sent to this machine</caption>
            <thead>
              <tr>
                <th scope="col">Action</th>
                <th scope="col">State</th>
                <th scope="col">Issued</th>
                <th scope="col">Finished</th>
                <th scope="col" className="num">
                  Exit code
                </th>
              </tr>
            </thead>
            <tbody>
              {commands.items.map((c) => (
                <tr key={c.commandId}>
                  <td>
                    <Link to={`/commands/${encodeURIComponent(c.requestId)}`}>{actionLabel(c.action)}</Link>
                  </td>
                  <td>{COMMAND_STATE_LABELS[c.state]}</td>
                  <td>{dateTime(c.issuedAt)}</td>
                  <td>{dateTime(c.finishedAt)}</td>
                  <td className="num">{c.exitCode ?? DASH}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {commands.hasMore && (
        <button type="button" onClick={commands.loadMore} disabled={commands.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
