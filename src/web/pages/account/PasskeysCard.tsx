import { useId, useState, type FormEvent } from 'react';
import { api, describeError, get } from '../../api/client.js';
import { useSession } from '../../app/session.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Field } from '../../components/Field.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { useResource } from '../../lib/useResource.js';
import { describeWebauthnError, registerPasskey, webauthnSupported, type Passkey } from '../../lib/webauthn.js';

function RenameForm({ passkey, onDone }: { passkey: Passkey; onDone: (renamed: Passkey | null) => void }) {
  const [name, setName] = useState(passkey.name);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      onDone(await api<Passkey>('PATCH', `/api/me/passkeys/${encodeURIComponent(passkey.id)}`, { body: { name: name.trim() } }));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <Field label={`New name for ${passkey.name}`} value={name} maxLength={64} required onChange={(e) => setName(e.target.value)} />
      <button type="submit" className="button-primary" disabled={name.trim() === ''}>
        Save
      </button>
      <button type="button" onClick={() => onDone(null)}>
        Cancel
      </button>
      {error !== null && <Notice kind="error">{describeError(error)}</Notice>}
    </form>
  );
}

/** The user's passkeys: sign in without a password, or use one as the second step. */
export function PasskeysCard() {
  const titleId = useId();
  const { secondFactorAdded } = useSession();
  const list = useResource((signal) => get<{ items: Passkey[] }>('/api/me/passkeys', { signal }), []);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const added = await registerPasskey(name.trim() || undefined);
      secondFactorAdded(added);
      list.setData((d) => ({ items: [...(d?.items ?? []), added.passkey] }));
      setName('');
      setMessage({ kind: 'ok', text: `Added the passkey ${added.passkey.name}.` });
    } catch (err) {
      setMessage({ kind: 'error', text: describeWebauthnError(err) ?? describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  const remove = async (passkey: Passkey) => {
    setMessage(null);
    try {
      await api('DELETE', `/api/me/passkeys/${encodeURIComponent(passkey.id)}`);
      list.setData((d) => ({ items: (d?.items ?? []).filter((p) => p.id !== passkey.id) }));
      setMessage({ kind: 'ok', text: `Removed the passkey ${passkey.name}.` });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  const items = list.data?.items ?? [];
  return (
    <section className="card" aria-labelledby={titleId}>
      <h2 id={titleId}>Passkeys</h2>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {list.loading && !list.data && <Loading label="Loading passkeys…" />}
      {list.error !== null && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.data && items.length === 0 && <Empty title="No passkeys yet">A passkey signs you in with this device&apos;s screen lock or a security key.</Empty>}
      {items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Your passkeys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Added</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <tr key={p.id}>
                  <td className="wrap">
                    {renaming === p.id ? (
                      <RenameForm
                        passkey={p}
                        onDone={(renamed) => {
                          setRenaming(null);
                          if (renamed) list.setData((d) => ({ items: (d?.items ?? []).map((x) => (x.id === renamed.id ? renamed : x)) }));
                        }}
                      />
                    ) : (
                      p.name
                    )}
                  </td>
                  <td>{dateTime(p.createdAt)}</td>
                  <td>{dateTime(p.lastUsedAt)}</td>
                  <td>
                    <div className="actions">
                      <button type="button" onClick={() => setRenaming(p.id)} disabled={renaming === p.id}>
                        Rename
                      </button>
                      <ConfirmButton label="Remove" question={`Remove ${p.name}?`} onConfirm={() => remove(p)} />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {webauthnSupported() ? (
        <form className="inline-form" onSubmit={add}>
          <Field label="Passkey name" value={name} maxLength={64} placeholder="e.g. Work laptop" onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? 'Waiting for the passkey…' : 'Add a passkey'}
          </button>
        </form>
      ) : (
        <p className="muted">This browser cannot create passkeys.</p>
      )}
    </section>
  );
}
