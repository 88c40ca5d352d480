import { useEffect, useRef, useState } from 'react';

/**
 * A destructive action asks once more, in the page rather than in a browser
 * dialog: "Revoke" becomes "Revoke agent?" with Confirm and Cancel.
 */
export function ConfirmButton({ label, question, onConfirm, disabled, danger = true }: { label: string; question: string; onConfirm: () => void | Promise<void>; disabled?: boolean; danger?: boolean }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);

  if (!asking) {
    return (
      <button type="button" className={danger ? 'button-danger' : undefined} disabled={disabled || busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        ref={confirmRef}
        type="button"
        className={danger ? 'button-danger' : undefined}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        Confirm
      </button>
      <button type="button" onClick={() => setAsking(false)} disabled={busy}>
        Cancel
      </button>
    </span>
  );
}
