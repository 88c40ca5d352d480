import { useId, useState, type FormEvent } from 'react';
import { api, describeError } from '../../api/client.js';
import type { CreatedEnrollmentToken, EnrollmentToken } from '../../api/types.js';
import { useSession } from '../../app/session.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { CopyField } from '../../components/CopyField.js';
import { Field } from '../../components/Field.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';

const TTLS = [
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day' },
  { seconds: 7 * 86_400, label: '7 days' },
  { seconds: 30 * 86_400, label: '30 days' },
];

const STATE_LABELS: Record<EnrollmentToken['state'], string> = { active: 'Active', expired: 'Expired', used_up: 'Used up', revoked: 'Revoked' };

/** The exact command for the machine to enroll; the pin is there when the server's certificate is self-signed. */
export function enrollCommand(origin: string, token: string, pin: string | null): string {
  return `flotilla agent enroll --server ${origin} --token ${token}${pin ? ` --pin ${pin}` : ''}`;
}

export function EnrollmentPage() {
  const { settings } = useSession();
  const ttlId = useId();
  const [ttl, setTtl] = useState(86_400);
  const [maxUses, setMaxUses] = useState('1');
  const [note, setNote] = useState('');
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const tokens = usePagedList<EnrollmentToken>('/api/admin/enrollment-tokens');

  const create = async (event: FormEvent) => {
    event.preventDefault();
    const uses = Number(maxUses);
    if (!Number.isInteger(uses) || uses < 1 || uses > 100_000) {
      setError('Maximum uses must be a whole number from 1 to 100000.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const answer = await api<CreatedEnrollmentToken>('POST', '/api/admin/enrollment-tokens', { body: { ttlSeconds: ttl, maxUses: uses, ...(note.trim() ? { note: note.trim() } : {}) } });
      setCreated(answer);
      setNote('');
      tokens.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (id: string) => {
    try {
      await api('DELETE', `/api/admin/enrollment-tokens/${encodeURIComponent(id)}`);
      tokens.update((items) => items.map((t) => (t.id === id ? { ...t, state: 'revoked', revokedAt: Date.now() } : t)));
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <section className="page">
      <h1>Enrollment tokens</h1>
      <p className="muted">A token lets machines enroll their agent. It is shown once; the server keeps only its hash.</p>

      <section className="card" aria-labelledby="new-token">
        <h2 id="new-token">New token</h2>
        {error && <Notice kind="error">{error}</Notice>}
        <form className="form form-row" onSubmit={create}>
          <div className="field">
            <label htmlFor={ttlId}>Valid for</label>
            <select id={ttlId} value={ttl} onChange={(e) => setTtl(Number(e.target.value))}>
              {TTLS.map((t) => (
                <option key={t.seconds} value={t.seconds}>
                  {t.label}
                </option>
              ))}
            </select>
          </div>
          <Field label="Maximum uses" name="max-uses" type="number" min={1} max={100000} step={1} required value={maxUses} onChange={(e) => setMaxUses(e.target.value)} />
          <Field label="Note (optional)" name="note" maxLength={256} value={note} onChange={(e) => setNote(e.target.value)} hint="For example: web servers, Berlin office." />
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create token'}
          </button>
        </form>
        {created && (
          <div className="created" role="status">
            <Notice kind="ok">
              Token created, valid until {dateTime(created.expiresAt)} for {created.maxUses} machine{created.maxUses === 1 ? '' : 's'}. Copy the command now: the token is not shown again.
            </Notice>
            <CopyField label="Run this on the machine to enroll" value={enrollCommand(window.location.origin, created.token, settings.serverPin)} />
            <p className="hint">
              {settings.serverPin
                ? 'The server uses a self-signed certificate, so the command pins its fingerprint. '
                : 'The server certificate is issued by a CA the agent trusts, so no pin is needed. '}
              If machines reach this server by another address, change <code>--server</code>.
            </p>
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="token-list">
        <h2 id="token-list">Tokens</h2>
        {tokens.loading && tokens.items.length === 0 && <Loading label="Loading tokens…" />}
        {tokens.error !== null && <ErrorState error={tokens.error} onRetry={tokens.reload} />}
        {!tokens.loading && tokens.error === null && tokens.items.length === 0 && <Empty title="No enrollment tokens yet" />}
        {tokens.items.length > 0 && (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Enrollment tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Note</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Used
                  </th>
                  <th scope="col">Expires</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.items.map((t) => (
                  <tr key={t.id}>
                    <td className="wrap">{t.note ?? <span className="muted">no note</span>}</td>
                    <td>
                      <span className={`badge badge-token-${t.state}`}>{STATE_LABELS[t.state] ?? t.state}</span>
                    </td>
                    <td className="num">
                      {t.uses} / {t.maxUses}
                    </td>
                    <td>{dateTime(t.expiresAt)}</td>
                    <td>{dateTime(t.createdAt)}</td>
                    <td>{t.state === 'active' && <ConfirmButton label="Revoke" question="Revoke this token?" onConfirm={() => revoke(t.id)} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {tokens.hasMore && (
          <button type="button" onClick={tokens.loadMore} disabled={tokens.loading}>
            Load more
          </button>
        )}
      </section>
    </section>
  );
}
