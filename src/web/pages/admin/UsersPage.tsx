import { useId, useState, type FormEvent } from 'react';
import { api, describeError } from '../../api/client.js';
import type { Role, User } from '../../api/types.js';
import { useUser } from '../../app/session.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Field } from '../../components/Field.js';
import { Empty, ErrorState, Loading, Notice } from '../../components/States.js';
import { dateTime } from '../../lib/format.js';
import { usePagedList } from '../../lib/usePagedList.js';

const ROLES: Array<{ value: Role; label: string }> = [
  { value: 'viewer', label: 'Viewer (read only)' },
  { value: 'operator', label: 'Operator (tags, commands)' },
  { value: 'admin', label: 'Admin (everything)' },
];
const STATUS_LABELS: Record<User['status'], string> = { active: 'Active', locked: 'Locked', suspended: 'Suspended' };
const PASSWORD_HINT = 'At least 12 characters with upper and lower case, a digit and a symbol. The user must change it at first sign-in.';

type Message = { kind: 'ok' | 'error'; text: string } | null;

function CreateUserForm({ onCreated }: { onCreated(user: User): void }) {
  const roleId = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const user = await api<User>('POST', '/api/admin/users', { body: { username: username.trim(), password, role } });
      onCreated(user);
      setMessage({ kind: 'ok', text: `Created ${user.username}. Give them the initial password through a safe channel.` });
      setUsername('');
      setPassword('');
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="new-user">
      <h2 id="new-user">New user</h2>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      <form className="form form-row" onSubmit={submit}>
        <Field label="Username" name="new-username" autoComplete="off" autoCapitalize="none" spellCheck={false} required value={username} onChange={(e) => setUsername(e.target.value)} hint="3 to 64 letters, digits, _ . or -" />
        <Field label="Initial password" name="new-user-password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} hint={PASSWORD_HINT} />
        <div className="field">
          <label htmlFor={roleId}>Role</label>
          <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="button-primary" disabled={busy || username.trim() === '' || password === ''}>
          {busy ? 'Creating…' : 'Create user'}
        </button>
      </form>
    </section>
  );
}

function ResetPassword({ user, onDone }: { user: User; onDone(message: Message): void }) {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Reset password
      </button>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await api('POST', `/api/admin/users/${encodeURIComponent(user.id)}/password`, { body: { password } });
      onDone({ kind: 'ok', text: `Set a new one-time password for ${user.username}; they must change it at their next sign-in.` });
      setOpen(false);
      setPassword('');
    } catch (err) {
      onDone({ kind: 'error', text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <Field label={`New password for ${user.username}`} type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      <button type="submit" disabled={busy || password === ''}>
        Set
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </form>
  );
}

/** A role change applies on an explicit button press, not on every arrow key in the list. */
function RoleCell({ user, disabled, onChange }: { user: User; disabled: boolean; onChange(role: Role): Promise<void> }) {
  const [role, setRole] = useState<Role>(user.role);
  const [busy, setBusy] = useState(false);
  return (
    <span className="inline-form">
      <select aria-label={`Role of ${user.username}`} value={role} disabled={disabled || busy} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r.value} value={r.value}>
            {r.value}
          </option>
        ))}
      </select>
      {role !== user.role && (
        <button
          type="button"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            await onChange(role);
            setBusy(false);
          }}
        >
          Change role
        </button>
      )}
    </span>
  );
}

export function UsersPage() {
  const me = useUser();
  const users = usePagedList<User>('/api/admin/users');
  const [message, setMessage] = useState<Message>(null);

  const patch = async (user: User, change: { role?: Role; status?: 'active' | 'suspended' }) => {
    setMessage(null);
    try {
      const updated = await api<User>('PATCH', `/api/admin/users/${encodeURIComponent(user.id)}`, { body: change });
      users.update((items) => items.map((u) => (u.id === user.id ? updated : u)));
      const what = change.role ? `is now ${change.role}` : change.status === 'suspended' ? 'is suspended and signed out' : 'is active again';
      setMessage({ kind: 'ok', text: `${updated.username} ${what}.` });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  const remove = async (user: User) => {
    setMessage(null);
    try {
      await api('DELETE', `/api/admin/users/${encodeURIComponent(user.id)}`);
      users.update((items) => items.filter((u) => u.id !== user.id));
      setMessage({ kind: 'ok', text: `Deleted ${user.username}.` });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  return (
    <section className="page">
      <h1>Users</h1>
      <CreateUserForm onCreated={(user) => users.update((items) => [...items, user])} />
      <section className="card" aria-labelledby="user-list">
        <h2 id="user-list">All users</h2>
        {message && <Notice kind={message.kind}>{message.text}</Notice>}
        {users.loading && users.items.length === 0 && <Loading label="Loading users…" />}
        {users.error !== null && <ErrorState error={users.error} onRetry={users.reload} />}
        {!users.loading && users.error === null && users.items.length === 0 && <Empty title="No users" />}
        {users.items.length > 0 && (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {users.items.map((u) => {
                  const self = u.id === me.id;
                  return (
                    <tr key={u.id}>
                      <td className="wrap">
                        {u.username}
                        {self && <span className="muted"> (you)</span>}
                        {u.passwordChangeRequired && <span className="muted"> · must change password</span>}
                      </td>
                      <td>
                        <RoleCell user={u} disabled={self} onChange={(role) => patch(u, { role })} />
                      </td>
                      <td>
                        <span className={`badge badge-user-${u.status}`}>{STATUS_LABELS[u.status] ?? u.status}</span>
                      </td>
                      <td>{dateTime(u.createdAt)}</td>
                      <td>
                        <div className="actions">
                          {!self &&
                            (u.status === 'active' ? (
                              <ConfirmButton label="Suspend" question={`Suspend ${u.username}?`} onConfirm={() => patch(u, { status: 'suspended' })} />
                            ) : (
                              <button type="button" onClick={() => void patch(u, { status: 'active' })}>
                                Reactivate
                              </button>
                            ))}
                          {!self && <ResetPassword user={u} onDone={setMessage} />}
                          {!self && <ConfirmButton label="Delete" question={`Delete ${u.username}?`} onConfirm={() => remove(u)} />}
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        {users.hasMore && (
          <button type="button" onClick={users.loadMore} disabled={users.loading}>
            Load more
          </button>
        )}
      </section>
    </section>
  );
}
