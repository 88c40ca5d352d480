import { useState } from 'react';
import { api, describeError, get } from '../api/client.js';
import type { Session } from '../api/types.js';
import { useSession, useUser } from '../app/session.js';
import { ConfirmButton } from '../components/ConfirmButton.js';
import { PasswordForm } from '../components/PasswordForm.js';
import { BackupCodes, TotpSetup } from '../components/TotpSetup.js';
import { Empty, ErrorState, Loading, Notice } from '../components/States.js';
import { dateTime } from '../lib/format.js';
import { useResource } from '../lib/useResource.js';
import { PasskeysCard } from './account/PasskeysCard.js';

/** A short description of a browser from its user agent; shown as text. */
function deviceOf(userAgent: string | null): string {
  if (!userAgent) return 'Unknown client';
  const browser = /(Edg|Firefox|Chrome|Chromium|Safari)\/[\d.]+/.exec(userAgent)?.[0] ?? userAgent.slice(0, 60);
  const os = /(Windows|Mac OS X|Android|iPhone|Linux)/.exec(userAgent)?.[0];
  return os ? `${browser} on ${os}` : browser;
}

function Sessions() {
  const { logout } = useSession();
  const sessions = useResource((signal) => get<{ items: Session[] }>('/api/me/sessions', { signal }), []);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const revoke = async (s: Session) => {
    setMessage(null);
    try {
      await api('DELETE', `/api/me/sessions/${encodeURIComponent(s.id)}`);
      if (s.current) {
        await logout('You ended this session.');
        return;
      }
      sessions.setData((d) => (d ? { items: d.items.filter((x) => x.id !== s.id) } : d));
      setMessage({ kind: 'ok', text: 'The session was ended; that device must sign in again.' });
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  return (
    <section className="card" aria-labelledby="sessions-title">
      <h2 id="sessions-title">My sessions</h2>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {sessions.loading && !sessions.data && <Loading label="Loading sessions…" />}
      {sessions.error !== null && <ErrorState error={sessions.error} onRetry={sessions.reload} />}
      {sessions.data && sessions.data.items.length === 0 && <Empty title="No active sessions" />}
      {sessions.data && sessions.data.items.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Signed-in sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last active</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.items.map((s) => (
                <tr key={s.id}>
                  <td className="wrap">
                    {deviceOf(s.userAgent)}
                    {s.current && <strong> (this session)</strong>}
                  </td>
                  <td>{s.ip ?? '—'}</td>
                  <td>{dateTime(s.createdAt)}</td>
                  <td>{dateTime(s.lastSeenAt)}</td>
                  <td>
                    <ConfirmButton label={s.current ? 'Sign out' : 'End session'} question={s.current ? 'Sign out here?' : 'End this session?'} onConfirm={() => revoke(s)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

interface MfaStatus {
  totp: boolean;
  backupCodesRemaining: number;
  passkeys: number;
}

/** Second factors: the authenticator app and backup codes (passkeys are counted here, managed by the API). */
function TwoStep() {
  const status = useResource((signal) => get<MfaStatus>('/api/me/mfa', { signal }), []);
  const [settingUp, setSettingUp] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const regenerate = async () => {
    setMessage(null);
    try {
      const answer = await api<{ backupCodes: string[] }>('POST', '/api/me/mfa/backup-codes', { body: {} });
      setCodes(answer.backupCodes);
      status.reload();
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };
  const remove = async () => {
    setMessage(null);
    try {
      await api('DELETE', '/api/me/mfa/totp');
      setMessage({ kind: 'ok', text: 'The authenticator app was removed.' });
      status.reload();
    } catch (err) {
      setMessage({ kind: 'error', text: describeError(err) });
    }
  };

  return (
    <section className="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-step verification</h2>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {status.loading && !status.data && <Loading label="Loading…" />}
      {status.error !== null && <ErrorState error={status.error} onRetry={status.reload} />}
      {codes && <BackupCodes codes={codes} />}
      {status.data && !settingUp && (
        <>
          <p>
            Authenticator app: <strong>{status.data.totp ? 'on' : 'off'}</strong>. Backup codes left: {status.data.backupCodesRemaining}. Passkeys: {status.data.passkeys}.
          </p>
          <div className="actions">
            {!status.data.totp && (
              <button type="button" className="button-primary" onClick={() => setSettingUp(true)}>
                Set up an authenticator app
              </button>
            )}
            {status.data.totp && <ConfirmButton label="New backup codes" question="Replace all backup codes?" danger={false} onConfirm={regenerate} />}
            {status.data.totp && <ConfirmButton label="Remove authenticator app" question="Remove the authenticator app?" onConfirm={remove} />}
          </div>
        </>
      )}
      {settingUp && (
        <TotpSetup
          onDone={() => {
            setSettingUp(false);
            status.reload();
          }}
        />
      )}
    </section>
  );
}

export function AccountPage() {
  const user = useUser();
  return (
    <section className="page">
      <h1>My account</h1>
      <p className="muted">
        Signed in as <strong>{user.username}</strong>, role {user.role}.
      </p>
      <div className="card-grid">
        <section className="card" aria-labelledby="password-title">
          <h2 id="password-title">Change password</h2>
          <PasswordForm />
        </section>
        <Sessions />
      </div>
      <TwoStep />
      <PasskeysCard />
    </section>
  );
}
