import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, describeError } from '../api/client.js';
import { useSession } from '../app/session.js';
import { CopyField } from './CopyField.js';
import { Field } from './Field.js';
import { Loading, Notice } from './States.js';

interface TotpSetup {
  otpauthUri: string;
  qrSvg: string;
  manualEntryKey: string;
}

interface Confirmed {
  backupCodes: string[];
  csrfToken?: string;
  expiresIn?: number;
}

/** The QR code is an SVG document shown as an image (a data: URL), so nothing in it can run. */
const svgDataUrl = (svg: string) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;

/** Backup codes, shown once, with a way to copy them all. */
export function BackupCodes({ codes }: { codes: string[] }) {
  return (
    <div className="backup-codes">
      <Notice kind="ok">Save these backup codes somewhere safe. Each one signs you in once if you lose your authenticator. They are not shown again.</Notice>
      <ul className="code-list" aria-label="Backup codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <CopyField label="All backup codes" value={codes.join('\n')} />
    </div>
  );
}

/**
 * Set up an authenticator app: scan the QR code (or type the key), confirm
 * with a code, then keep the backup codes. The session gains the second factor.
 */
export function TotpSetup({ onDone }: { onDone(): void }) {
  const { secondFactorAdded } = useSession();
  const [setup, setSetup] = useState<TotpSetup | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);

  useEffect(() => {
    let cancelled = false;
    api<TotpSetup>('POST', '/api/me/mfa/totp/setup', { body: {} })
      .then((answer) => {
        if (!cancelled) setSetup(answer);
      })
      .catch((err: unknown) => {
        if (cancelled) return;
        setError(
          err instanceof ApiError && err.code === 'totp_already_enrolled'
            ? 'An authenticator app is already set up for this account. Sign out and sign in again with a code from it.'
            : describeError(err),
        );
      });
    return () => {
      cancelled = true;
    };
  }, []);

  const confirm = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api<Confirmed>('POST', '/api/me/mfa/totp/confirm', { body: { code: code.replace(/\s+/g, '') } });
      secondFactorAdded(answer);
      setCodes(answer.backupCodes);
    } catch (err) {
      setError(err instanceof ApiError && err.status < 500 && err.status !== 403 ? 'That code is not right. Check the time on your device and enter the current code.' : describeError(err));
      setCode('');
    } finally {
      setBusy(false);
    }
  };

  if (codes) {
    return (
      <div>
        <BackupCodes codes={codes} />
        <button type="button" className="button-primary" onClick={onDone}>
          I have saved them
        </button>
      </div>
    );
  }
  return (
    <div className="totp-setup">
      {error && <Notice kind="error">{error}</Notice>}
      {!setup && !error && <Loading label="Preparing…" />}
      {setup && (
        <>
          <ol className="steps">
            <li>
              Scan this code with an authenticator app (for example FreeOTP, Aegis or Google Authenticator).
              <img className="qr" src={svgDataUrl(setup.qrSvg)} alt="QR code for the authenticator app" width={200} height={200} />
            </li>
            <li>
              Or enter this key by hand: <code className="manual-key">{setup.manualEntryKey}</code>
            </li>
            <li>Enter the 6-digit code the app shows.</li>
          </ol>
          <form className="form" onSubmit={confirm}>
            <Field label="Code from the app" name="totp-code" inputMode="numeric" autoComplete="one-time-code" maxLength={8} required value={code} onChange={(e) => setCode(e.target.value)} />
            <button type="submit" className="button-primary" disabled={busy || code.trim() === ''}>
              {busy ? 'Checking…' : 'Turn on two-step verification'}
            </button>
          </form>
        </>
      )}
    </div>
  );
}
