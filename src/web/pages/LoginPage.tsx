import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client.js';
import { useSession } from '../app/session.js';
import { Field } from '../components/Field.js';
import { Notice } from '../components/States.js';
import { describeWebauthnError } from '../lib/webauthn.js';

/**
 * The API answers one message for an unknown user, a wrong password, a locked
 * and a suspended account, so the page cannot (and must not) tell them apart;
 * it says what each case means instead.
 */
function loginError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'invalid_credentials') {
      return 'Sign-in failed: the username or password is wrong, or the account is locked or suspended. After 5 failed attempts an account is locked for 15 minutes; a suspended account must be reactivated by an administrator.';
    }
    if (err.status === 429) return `Too many sign-in attempts from here. Try again${err.retryAfterSeconds ? ` in ${Math.ceil(err.retryAfterSeconds / 60)} minute(s)` : ' later'}.`;
    if (err.status === 0) return 'The server cannot be reached. Check your connection and try again.';
    if (err.status >= 500) return 'The server could not sign you in right now. Try again in a moment.';
    return err.message;
  }
  return 'Sign-in failed. Try again.';
}

function mfaError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 400) return 'That code is not valid, or it was already used. Check the time on your device and try the next code.';
    if (err.status === 429) return 'Too many attempts. Wait a moment and try again.';
    return err.message;
  }
  return 'Verification failed. Try again.';
}

export function LoginPage({ notice }: { notice: string | null }) {
  const { login, completeMfa, passkeyLogin } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [useBackup, setUseBackup] = useState(false);
  const [mfa, setMfa] = useState<{ ticket: string; methods: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    document.title = 'Sign in · Flotilla';
  }, []);
  useEffect(() => {
    heading.current?.focus();
  }, [mfa]);

  const submitPassword = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const outcome = await login(username.trim(), password);
      if (outcome.kind === 'mfa') {
        setMfa({ ticket: outcome.ticket, methods: outcome.methods });
        setUseBackup(!outcome.methods.includes('totp') && outcome.methods.includes('backup'));
      }
    } catch (err) {
      setError(loginError(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  const submitCode = async (event: FormEvent) => {
    event.preventDefault();
    if (!mfa) return;
    setBusy(true);
    setError(null);
    try {
      await completeMfa(mfa.ticket, code.replace(/\s+/g, ''));
    } catch (err) {
      // An expired or spent ticket means starting over with the password.
      if (err instanceof ApiError && (err.code === 'invalid_mfa_ticket' || err.code === 'mfa_ticket_expired')) {
        setMfa(null);
        setPassword('');
        setError('The sign-in took too long. Enter your password again.');
      } else {
        setError(mfaError(err));
      }
      setCode('');
    } finally {
      setBusy(false);
    }
  };

  /** Passwordless without a ticket; the second step of a password sign-in with one. */
  const signInWithPasskey = async (ticket?: string) => {
    setBusy(true);
    setError(null);
    try {
      await passkeyLogin(ticket);
    } catch (err) {
      if (ticket && err instanceof ApiError && (err.code === 'invalid_mfa_ticket' || err.code === 'mfa_ticket_expired')) {
        setMfa(null);
        setPassword('');
        setError('The sign-in took too long. Enter your password again.');
      } else {
        setError(describeWebauthnError(err) ?? (err instanceof ApiError && err.status === 401 ? 'That passkey is not registered with Flotilla, or it was removed.' : loginError(err)));
      }
    } finally {
      setBusy(false);
    }
  };
  const codes = mfa !== null && (mfa.methods.includes('totp') || mfa.methods.includes('backup'));

  return (
    <main className="login" id="main">
      <div className="login-card">
        <p className="brand brand-large" aria-hidden="true">
          Flotilla
        </p>
        {!mfa ? (
          <form onSubmit={submitPassword} noValidate>
            <h1 ref={heading} tabIndex={-1}>
              Sign in
            </h1>
            {notice && <Notice kind="ok">{notice}</Notice>}
            {error && <Notice kind="error">{error}</Notice>}
            <Field label="Username" name="username" autoComplete="username" autoCapitalize="none" spellCheck={false} required value={username} onChange={(e) => setUsername(e.target.value)} />
            <Field label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            <button type="submit" className="button-primary" disabled={busy || username.trim() === '' || password === ''}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
            <div className="form-links">
              <button type="button" className="button-link" disabled={busy} onClick={() => void signInWithPasskey()}>
                Sign in with a passkey
              </button>
            </div>
          </form>
        ) : (
          <form onSubmit={submitCode} noValidate>
            <h1 ref={heading} tabIndex={-1}>
              Two-step verification
            </h1>
            {error && <Notice kind="error">{error}</Notice>}
            {!codes ? null : useBackup ? (
              <Field label="Backup code" name="code" autoComplete="one-time-code" autoCapitalize="none" spellCheck={false} required value={code} onChange={(e) => setCode(e.target.value)} hint="Each backup code works once." />
            ) : (
              <Field
                label="Code from your authenticator app"
                name="code"
                inputMode="numeric"
                autoComplete="one-time-code"
                pattern="[0-9 ]*"
                maxLength={8}
                required
                value={code}
                onChange={(e) => setCode(e.target.value)}
                hint="6 digits; a new code appears every 30 seconds."
              />
            )}
            {codes && (
              <button type="submit" className="button-primary" disabled={busy || code.trim() === ''}>
                {busy ? 'Verifying…' : 'Verify'}
              </button>
            )}
            <div className="form-links">
              {mfa.methods.includes('webauthn') && (
                <button type="button" className={codes ? 'button-link' : 'button-primary'} disabled={busy} onClick={() => void signInWithPasskey(mfa.ticket)}>
                  Use a passkey
                </button>
              )}
              {mfa.methods.includes('backup') && mfa.methods.includes('totp') && (
                <button type="button" className="button-link" onClick={() => setUseBackup(!useBackup)}>
                  {useBackup ? 'Use the authenticator app' : 'Use a backup code'}
                </button>
              )}
              <button
                type="button"
                className="button-link"
                onClick={() => {
                  setMfa(null);
                  setPassword('');
                  setError(null);
                }}
              >
                Start over
              </button>
            </div>
          </form>
        )}
      </div>
    </main>
  );
}
