import { useState, type FormEvent } from 'react';
import { ApiError, describeError } from '../api/client.js';
import { useSession } from '../app/session.js';
import { Field } from './Field.js';
import { Notice } from './States.js';

const POLICY_HINT = 'At least 12 characters with upper and lower case letters, a digit and a symbol; not a common password and not containing your username.';

function passwordError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'wrong_password') return 'The current password is wrong.';
  if (err instanceof ApiError && err.code === 'weak_password') return `The new password does not meet the policy: ${err.message}. ${POLICY_HINT}`;
  return describeError(err);
}

/** Change one's own password; used at the forced first change and on the account page. */
export function PasswordForm({ submitLabel = 'Change password', onDone }: { submitLabel?: string; onDone?: () => void }) {
  const { changePassword } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const mismatch = confirm !== '' && next !== confirm;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (next !== confirm) {
      setError('The new passwords do not match.');
      return;
    }
    if (next.length < 12) {
      setError(`The new password is too short. ${POLICY_HINT}`);
      return;
    }
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(true);
      onDone?.();
    } catch (err) {
      setError(passwordError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="form" noValidate>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="ok">Your password was changed.</Notice>}
      <Field label="Current password" name="current-password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
      <Field label="New password" name="new-password" type="password" autoComplete="new-password" required minLength={12} value={next} onChange={(e) => setNext(e.target.value)} hint={POLICY_HINT} />
      <Field
        label="Repeat the new password"
        name="confirm-password"
        type="password"
        autoComplete="new-password"
        required
        value={confirm}
        onChange={(e) => setConfirm(e.target.value)}
        aria-invalid={mismatch}
        hint={mismatch ? 'Does not match the new password yet.' : undefined}
      />
      <button type="submit" className="button-primary" disabled={busy || current === '' || next === '' || confirm === ''}>
        {busy ? 'Saving…' : submitLabel}
      </button>
    </form>
  );
}
