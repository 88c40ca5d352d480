import { useId, useState } from 'react';

/** Read-only text (a command, a token) with a copy button; the text stays selectable for browsers without clipboard access. */
export function CopyField({ label, value }: { label: string; value: string }) {
  const id = useId();
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  return (
    <div className="copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <textarea id={id} readOnly value={value} rows={Math.min(4, Math.ceil(value.length / 60))} onFocus={(e) => e.currentTarget.select()} spellCheck={false} />
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(value);
              setCopied('yes');
            } catch {
              setCopied('failed');
            }
          }}
        >
          Copy
        </button>
      </div>
      <span className="hint" role="status">
        {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'Copy failed; select the text and copy it yourself.' : ''}
      </span>
    </div>
  );
}
