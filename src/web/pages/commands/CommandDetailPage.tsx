import { useEffect, useState } from 'react';
import { api, ApiError, describeError, get } from '../../api/client.js';
import type { CommandDetail, CommandRequest, CommandResult } from '../../api/types.js';
import { Link } from '../../app/router.js';
import { roleAtLeast, useUser } from '../../app/session.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { ErrorState, Loading, Notice } from '../../components/States.js';
import { bytes, dateTime, DASH } from '../../lib/format.js';
import { useResource } from '../../lib/useResource.js';
import { actionLabel, COMMAND_STATE_LABELS, isFinished, REQUEST_STATE_LABELS, targetLabel } from './labels.js';

/** Progress is read again this often until nothing more can change. */
const POLL_MS = 2000;

/** One machine's output: agent-supplied text, rendered as text in a <pre>, never as markup. */
function Output({ result }: { result: CommandResult | undefined }) {
  if (!result || result.output === null) return <span className="muted">{DASH}</span>;
  return (
    <details>
      <summary>
        Output ({bytes(result.outputBytes)}
        {result.truncated ? ', truncated' : ''})
      </summary>
      <pre className="command-output">{result.output}</pre>
    </details>
  );
}

export function CommandDetailPage({ id }: { id: string }) {
  const user = useUser();
  const seesOutput = roleAtLeast(user.role, 'operator');
  const path = `/api/commands/${encodeURIComponent(id)}`;
  const detail = useResource((signal) => get<CommandDetail>(path, { signal }), [path]);
  const [results, setResults] = useState<Map<string, CommandResult>>(new Map());
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const data = detail.data;
  const finished = data ? isFinished(data) : false;

  useEffect(() => {
    if (!data || finished || detail.loading) return;
    const timer = window.setTimeout(detail.reload, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [data, finished, detail.loading, detail.reload]);

  // Outputs only for operators and up (the server refuses viewers too); read again with each progress change.
  const progressKey = data ? JSON.stringify(data.progress) : '';
  useEffect(() => {
    if (!seesOutput || !data || data.state !== 'approved') return;
    const controller = new AbortController();
    get<{ items: CommandResult[] }>(`${path}/results`, { signal: controller.signal })
      .then((answer) => setResults(new Map(answer.items.map((r) => [r.commandId, r]))))
      .catch(() => undefined);
    return () => controller.abort();
  }, [seesOutput, path, progressKey, data?.state]);

  const cancel = async () => {
    setMessage(null);
    try {
      const updated = await api<CommandRequest>('POST', `${path}/cancel`, { body: {} });
      detail.setData((d) => (d ? { ...d, ...updated } : d));
      detail.reload();
      setMessage({ kind: 'ok', text: 'Cancelled.' });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  if (!data) {
    const missing = detail.error instanceof ApiError && detail.error.code === 'request_not_found';
    return (
      <section className="page">
        <p className="crumbs">
          <Link to="/commands">← Commands</Link>
        </p>
        <h1>{missing ? 'No such command request' : 'Command request'}</h1>
        {detail.error ? missing ? <p>This request does not exist.</p> : <ErrorState error={detail.error} onRetry={detail.reload} /> : <Loading label="Loading the request…" />}
      </section>
    );
  }

  const canCancel = (data.requestedBy === user.id || roleAtLeast(user.role, 'admin')) && (data.state === 'pending_approval' || (data.state === 'approved' && data.progress.delivered + data.progress.running === 0 && data.progress.queued > 0));
  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/commands">← Commands</Link>
      </p>
      <div className="page-head">
        <h1>
          {actionLabel(data.action)} · {targetLabel(data.target)}
        </h1>
        <span className={`badge badge-command-${data.state}`}>{REQUEST_STATE_LABELS[data.state]}</span>
        {!finished && <span className="muted">updating every {POLL_MS / 1000} s</span>}
      </div>
      <p className="muted">
        Requested {dateTime(data.createdAt)}
        {data.approvedAt !== null && <> · approved {dateTime(data.approvedAt)}</>}
        {data.scriptSha256 !== null && (
          <>
            {' '}
            · script <span className="hash">{data.scriptSha256}</span>
          </>
        )}
      </p>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {canCancel && <ConfirmButton label="Cancel request" question="Cancel this request?" onConfirm={cancel} />}
      <section className="card" aria-labelledby="progress-title">
        <h2 id="progress-title">Progress</h2>
        <dl className="facts" aria-label="Commands by state">
          {Object.entries(data.progress)
            .filter(([, n]) => n > 0)
            .map(([state, n]) => (
              <div className="fact" key={state}>
                <dt>{COMMAND_STATE_LABELS[state as keyof typeof COMMAND_STATE_LABELS]}</dt>
                <dd>{n}</dd>
              </div>
            ))}
        </dl>
        {data.machines.length === 0 ? (
          <p className="muted">{data.state === 'pending_approval' ? 'Commands are signed and queued once the request is approved.' : 'No machine received this request.'}</p>
        ) : (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Machines</caption>
              <thead>
                <tr>
                  <th scope="col">Machine</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Exit code
                  </th>
                  <th scope="col">Finished</th>
                  <th scope="col">Reason</th>
                  {seesOutput && <th scope="col">Output</th>}
                </tr>
              </thead>
              <tbody>
                {data.machines.map((m) => (
                  <tr key={m.commandId}>
                    <td>
                      <Link to={`/machines/${encodeURIComponent(m.machineId)}`}>{m.machineId.slice(0, 8)}</Link>
                    </td>
                    <td>{COMMAND_STATE_LABELS[m.state]}</td>
                    <td className="num">{m.exitCode ?? DASH}</td>
                    <td>{dateTime(m.finishedAt)}</td>
                    <td className="wrap">{m.reason ?? DASH}</td>
                    {seesOutput && (
                      <td className="wrap">
                        <Output result={results.get(m.commandId)} />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </section>
  );
}
