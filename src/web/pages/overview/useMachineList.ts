import { useCallback, useEffect, useRef, useState } from 'react';
import { get } from '../../api/client.js';
import type { MachineRow, MachineStatus, Page } from '../../api/types.js';

export const PAGE_SIZE = 200;
/** Live rows are applied in batches: a 10,000-machine fleet sends hundreds of events a second. */
const LIVE_FLUSH_MS = 1000;

export type SortKey = 'hostname' | 'lastSeen' | 'cpu' | 'memory';

export interface MachineQuery {
  search: string;
  status: MachineStatus | '';
  os: string;
  tag: string;
  sort: SortKey;
  desc: boolean;
}

export const DEFAULT_QUERY: MachineQuery = { search: '', status: '', os: '', tag: '', sort: 'hostname', desc: false };

function sortValue(row: MachineRow, sort: SortKey): string | number {
  switch (sort) {
    case 'hostname':
      return row.hostname;
    case 'lastSeen':
      return row.lastSeenAt ?? -1;
    case 'cpu':
      return row.cpu ?? -1;
    case 'memory':
      return row.memory ?? -1;
  }
}

/** The server's order (sort key, then id), so a live row lands where a reload would put it. */
export function compareRows(a: MachineRow, b: MachineRow, q: Pick<MachineQuery, 'sort' | 'desc'>): number {
  const x = sortValue(a, q.sort);
  const y = sortValue(b, q.sort);
  const order = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return q.desc ? -order : order;
}

/** Whether a row belongs in the list under the current filters (search as the server does it: hostname substring). */
export function rowMatches(row: MachineRow, q: MachineQuery): boolean {
  if (q.status && row.status !== q.status) return false;
  if (q.os && row.os !== q.os) return false;
  if (q.tag && !row.tags.includes(q.tag)) return false;
  if (q.search && !row.hostname.toLowerCase().includes(q.search.toLowerCase())) return false;
  return true;
}

function insertSorted(rows: MachineRow[], row: MachineRow, q: MachineQuery): void {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareRows(rows[mid] as MachineRow, row, q) < 0) lo = mid + 1;
    else hi = mid;
  }
  rows.splice(lo, 0, row);
}

export interface MachineList {
  rows: MachineRow[];
  phase: 'loading' | 'ready' | 'error';
  error: unknown;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
  reload(): void;
  /** Feed a live `machine` event. */
  applyLive(row: MachineRow): void;
}

/**
 * The machine list for one query, fetched a page at a time by cursor as the
 * table scrolls, and kept current by live events: known rows are updated in
 * place (no jumping while someone reads), new machines are inserted in order
 * once the whole list is loaded.
 */
export function useMachineList(query: MachineQuery): MachineList {
  const [rows, setRows] = useState<MachineRow[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [phase, setPhase] = useState<MachineList['phase']>('loading');
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [reloads, setReloads] = useState(0);
  const generation = useRef(0);
  const pending = useRef(new Map<string, MachineRow>());
  const complete = useRef(false);
  const queryRef = useRef(query);

  const params = useCallback(
    (cursor?: string) => ({
      limit: PAGE_SIZE,
      cursor,
      search: query.search.trim() || undefined,
      status: query.status || undefined,
      os: query.os || undefined,
      tag: query.tag || undefined,
      sort: `${query.desc ? '-' : ''}${query.sort}`,
    }),
    [query],
  );

  useEffect(() => {
    queryRef.current = query;
    const gen = ++generation.current;
    const controller = new AbortController();
    setPhase('loading');
    setError(null);
    setRows([]);
    setNext(null);
    complete.current = false;
    pending.current.clear();
    get<Page<MachineRow>>('/api/fleet/machines', { query: params(), signal: controller.signal })
      .then((page) => {
        if (gen !== generation.current) return;
        setRows(page.items);
        setNext(page.next);
        complete.current = page.next === null;
        setPhase('ready');
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted || gen !== generation.current) return;
        setError(err);
        setPhase('error');
      });
    return () => controller.abort();
  }, [params, reloads, query]);

  const loadMore = useCallback(() => {
    if (!next || loadingMore) return;
    const gen = generation.current;
    setLoadingMore(true);
    get<Page<MachineRow>>('/api/fleet/machines', { query: params(next) })
      .then((page) => {
        if (gen !== generation.current) return;
        setRows((prev) => {
          const seen = new Set(prev.map((r) => r.id));
          return [...prev, ...page.items.filter((r) => !seen.has(r.id))];
        });
        setNext(page.next);
        setError(null);
        complete.current = page.next === null;
      })
      .catch((err: unknown) => {
        if (gen === generation.current) setError(err);
      })
      .finally(() => {
        if (gen === generation.current) setLoadingMore(false);
      });
  }, [next, loadingMore, params]);

  // Apply buffered live rows once a second, in one pass over the list.
  useEffect(() => {
    const timer = setInterval(() => {
      if (pending.current.size === 0) return;
      const updates = pending.current;
      pending.current = new Map();
      setRows((prev) => {
        const out = prev.slice();
        const index = new Map(out.map((r, i) => [r.id, i]));
        const fresh: MachineRow[] = [];
        for (const row of updates.values()) {
          const at = index.get(row.id);
          if (at !== undefined) out[at] = row;
          else if (complete.current && rowMatches(row, queryRef.current)) fresh.push(row);
        }
        // Insert after the in-place updates, whose indexes an insert would shift.
        for (const row of fresh) insertSorted(out, row, queryRef.current);
        return out;
      });
    }, LIVE_FLUSH_MS);
    return () => clearInterval(timer);
  }, []);

  const applyLive = useCallback((row: MachineRow) => {
    pending.current.set(row.id, row);
  }, []);

  const reload = useCallback(() => setReloads((n) => n + 1), []);

  return { rows, phase, error, hasMore: next !== null, loadingMore, loadMore, reload, applyLive };
}
