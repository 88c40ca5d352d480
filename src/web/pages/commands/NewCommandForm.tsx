import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, describeError, get } from '../../api/client.js';
import type { CommandAction, CommandRequest, MachineRow, Page, TagCount } from '../../api/types.js';
import { Field } from '../../components/Field.js';
import { Notice } from '../../components/States.js';
import { ACTIONS } from './labels.js';

const SHA256 = /^[0-9a-f]{64}$/;
const SEARCH_LIMIT = 20;

type TargetKind = 'machines' | 'tag';

/** Machines matching the search box, for picking targets; the server resolves and checks them again. */
function useMachineSearch(search: string): MachineRow[] {
  const [rows, setRows] = useState<MachineRow[]>([]);
  useEffect(() => {
    const controller = new AbortController();
    get<Page<MachineRow>>('/api/fleet/machines', { query: { search: search.trim(), limit: SEARCH_LIMIT, sort: 'hostname' }, signal: controller.signal })
      .then((page) => setRows(page.items.filter((m) => m.status !== 'decommissioned')))
      .catch(() => {
        if (!controller.signal.aborted) setRows([]);
      });
    return () => controller.abort();
  }, [search]);
  return rows;
}

function useTags(): TagCount[] {
  const [tags, setTags] = useState<TagCount[]>([]);
  useEffect(() => {
    const controller = new AbortController();
    get<Page<TagCount>>('/api/fleet/tags', { signal: controller.signal })
      .then((page) => setTags(page.items))
      .catch(() => undefined);
    return () => controller.abort();
  }, []);
  return tags;
}

/** A new request: an action from the catalog, its params, and machines or a tag to run it on. */
export function NewCommandForm({ onCreated }: { onCreated(request: CommandRequest): void }) {
  const ids = useId();
  const [action, setAction] = useState<CommandAction>('ping');
  const [sha256, setSha256] = useState('');
  const [args, setArgs] = useState('');
  const [kind, setKind] = useState<TargetKind>('machines');
  const [search, setSearch] = useState('');
  const [picked, setPicked] = useState<Map<string, string>>(new Map());
  const [tag, setTag] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const machines = useMachineSearch(search);
  const tags = useTags();
  const highRisk = ACTIONS.find((a) => a.action === action)?.highRisk ?? true;

  const toggle = (machine: MachineRow) =>
    setPicked((prev) => {
      const next = new Map(prev);
      if (next.has(machine.id)) next.delete(machine.id);
      else next.set(machine.id, machine.hostname);
      return next;
    });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    if (action === 'run_script' && !SHA256.test(sha256)) return setError('The script hash must be 64 lowercase hex characters (SHA-256).');
    if (kind === 'machines' && picked.size === 0) return setError('Pick at least one machine.');
    if (kind === 'tag' && tag === '') return setError('Pick a tag.');
    const params = action === 'run_script' ? { sha256, args: args.split('\n').filter((line) => line !== '') } : {};
    const targets = kind === 'machines' ? { machines: [...picked.keys()] } : { tag };
    setBusy(true);
    try {
      const created = await api<CommandRequest>('POST', '/api/commands', { body: { action, params, targets } });
      setPicked(new Map());
      onCreated(created);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>New command</h2>
      <div className="field">
        <label htmlFor={`${ids}-action`}>Action</label>
        <select id={`${ids}-action`} value={action} onChange={(e) => setAction(e.target.value as CommandAction)}>
          {ACTIONS.map((a) => (
            <option key={a.action} value={a.action}>
              {a.label}
              {a.highRisk ? ' (needs approval)' : ''}
            </option>
          ))}
        </select>
        {highRisk && <span className="hint">An admin other than you must approve this before it is sent.</span>}
      </div>
      {action === 'run_script' && (
        <>
          <Field label="Script SHA-256" name="sha256" value={sha256} onChange={(e) => setSha256(e.target.value.trim().toLowerCase())} spellCheck={false} autoComplete="off" hint="The agent runs only a script it already holds with this hash." />
          <div className="field">
            <label htmlFor={`${ids}-args`}>Arguments (one per line)</label>
            <textarea id={`${ids}-args`} rows={3} value={args} onChange={(e) => setArgs(e.target.value)} spellCheck={false} />
          </div>
        </>
      )}
      <fieldset className="field">
        <legend>Targets</legend>
        <div className="choices">
          <label className="choice">
            <input type="radio" name={`${ids}-kind`} checked={kind === 'machines'} onChange={() => setKind('machines')} /> Machines
          </label>
          <label className="choice">
            <input type="radio" name={`${ids}-kind`} checked={kind === 'tag'} onChange={() => setKind('tag')} /> Every machine with a tag
          </label>
        </div>
        {kind === 'machines' ? (
          <>
            <Field label="Search machines" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
            <ul className="pick-list" aria-label="Machines to target">
              {machines.map((m) => (
                <li key={m.id}>
                  <label className="choice">
                    <input type="checkbox" checked={picked.has(m.id)} onChange={() => toggle(m)} /> {m.hostname}
                  </label>
                </li>
              ))}
            </ul>
            {picked.size > 0 && <p className="hint">Selected: {[...picked.values()].join(', ')}</p>}
          </>
        ) : (
          <div className="field">
            <label htmlFor={`${ids}-tag`}>Tag</label>
            <select id={`${ids}-tag`} value={tag} onChange={(e) => setTag(e.target.value)}>
              <option value="">Choose a tag</option>
              {tags.map((t) => (
                <option key={t.tag} value={t.tag}>
                  {t.tag} ({t.count})
                </option>
              ))}
            </select>
          </div>
        )}
      </fieldset>
      {error && <Notice kind="error">{error}</Notice>}
      <button type="submit" className="button-primary" disabled={busy}>
        {highRisk ? 'Request approval' : 'Send command'}
      </button>
    </form>
  );
}
