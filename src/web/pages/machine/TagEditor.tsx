import { useId, useState, type FormEvent } from 'react';
import { api, describeError } from '../../api/client.js';
import { Notice } from '../../components/States.js';

const TAG_PATTERN = /^[^\s,]{1,128}$/;

/** Tags shown to everyone; operators and admins can add and remove them. */
export function TagEditor({ machineId, tags, editable, onSaved }: { machineId: string; tags: string[]; editable: boolean; onSaved(tags: string[]): void }) {
  const inputId = useId();
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (next: string[]) => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ tags: string[] }>('PUT', `/api/fleet/machines/${encodeURIComponent(machineId)}/tags`, { body: { tags: next } });
      onSaved(answer.tags);
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };

  const add = async (event: FormEvent) => {
    event.preventDefault();
    const tag = draft.trim();
    if (!TAG_PATTERN.test(tag)) {
      setError('A tag is 1 to 128 characters without spaces or commas.');
      return;
    }
    if (tags.includes(tag)) {
      setDraft('');
      return;
    }
    if (await save([...tags, tag])) setDraft('');
  };

  return (
    <section className="card" aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {tags.length === 0 ? (
        <p className="muted">No tags.</p>
      ) : (
        <ul className="tag-list" aria-label="Tags">
          {tags.map((tag) => (
            <li key={tag} className="tag">
              {tag}
              {editable && (
                <button type="button" className="tag-remove" aria-label={`Remove tag ${tag}`} disabled={busy} onClick={() => void save(tags.filter((t) => t !== tag))}>
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {editable && (
        <form className="inline-form" onSubmit={add}>
          <label htmlFor={inputId}>New tag</label>
          <input id={inputId} value={draft} maxLength={128} onChange={(e) => setDraft(e.target.value)} autoComplete="off" spellCheck={false} />
          <button type="submit" disabled={busy || draft.trim() === ''}>
            Add tag
          </button>
        </form>
      )}
    </section>
  );
}
