import { useCallback, useEffect, useState } from 'react';
import { get } from '../api/client.js';
import type { Page } from '../api/types.js';

export interface PagedList<T> {
  items: T[];
  loading: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore(): void;
  reload(): void;
  update(fn: (items: T[]) => T[]): void;
}

/** A `{items, next}` list read page by page with a "Load more" button. */
export function usePagedList<T>(path: string, pageSize = 100): PagedList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    get<Page<T>>(path, { query: { limit: pageSize }, signal: controller.signal })
      .then((page) => {
        setItems(page.items);
        setNext(page.next);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [path, pageSize, reloads]);

  const loadMore = useCallback(() => {
    if (!next) return;
    setLoading(true);
    get<Page<T>>(path, { query: { limit: pageSize, cursor: next } })
      .then((page) => {
        setItems((prev) => [...prev, ...page.items]);
        setNext(page.next);
        setError(null);
      })
      .catch((err: unknown) => setError(err))
      .finally(() => setLoading(false));
  }, [next, path, pageSize]);

  const reload = useCallback(() => setReloads((n) => n + 1), []);
  return { items, loading, error, hasMore: next !== null, loadMore, reload, update: setItems };
}
