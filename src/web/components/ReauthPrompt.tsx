import { useEffect, useState, type FormEvent } from 'react';
import { api, describeError, setReauthPrompt } from '../api/client.js';
import { Field } from './Field.js';
import { Notice } from './States.js';

type Proof = 'password' | 'code';

/**
 * The step-up prompt: when a change answers `reauthentication_required`, this
 * asks for the password (or a code) over the page, proves it with
 * POST /api/me/reauth, and lets the waiting change go through. The page and
 * whatever the user typed into it stay as they were.
 */
export function ReauthPrompt() {
  const [waiting, setWaiting] = useState<{ resolve: (ok: boolean) => void } | null>(null);
  const [proof, setProof] = useState<Proof>('password');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setReauthPrompt(() => new Promise<boolean>((resolve) => setWaiting({ resolve })));
    return () => setReauthPrompt(null);
  }, []);

  if (!waiting) return null;

  const finish = (ok: boolean) => {
    waiting.resolve(ok);
    setWaiting(null);
    setValue('');
    setError(null);
    setProof('password');
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/me/reauth', { body: proof === 'password' ? { password: value } : { code: value.trim() } });
      finish(true);
    } catch (err) {
      setError(describeError(err));
      setValue('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="reauth-backdrop">
      <form className="card reauth" role="dialog" aria-modal="true" aria-labelledby="reauth-title" onSubmit={(e) => void submit(e)}>
        <h2 id="reauth-title">Confirm it is you</h2>
        <p>This change needs a fresh proof that you are at the keyboard. It lasts five minutes.</p>
        {error && <Notice kind="error">{error}</Notice>}
        <Field
          key={proof}
          label={proof === 'password' ? 'Your password' : 'Code from your authenticator app, or a backup code'}
          type={proof === 'password' ? 'password' : 'text'}
          autoComplete={proof === 'password' ? 'current-password' : 'one-time-code'}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          required
          autoFocus
        />
        <div className="actions">
          <button type="submit" className="button-primary" disabled={busy || value === ''}>
            Confirm
          </button>
          <button type="button" onClick={() => setProof(proof === 'password' ? 'code' : 'password')} disabled={busy}>
            {proof === 'password' ? 'Use a code instead' : 'Use my password instead'}
          </button>
          <button type="button" onClick={() => finish(false)} disabled={busy}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
