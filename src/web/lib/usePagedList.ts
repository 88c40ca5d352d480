import { useCallback, useEffect, useState } from 'react';
import { get, type RequestOptions } from '../api/client.js';
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

export interface PagedListOptions {
  /** Filters sent with every page; a new filter starts again from the first page. */
  query?: RequestOptions['query'];
  pageSize?: number;
}

/** A `{items, next}` list read page by page with a "Load more" button. */
export function usePagedList<T>(path: string, { query, pageSize = 100 }: PagedListOptions = {}): PagedList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [reloads, setReloads] = useState(0);
  // Stands for the query object, which is a new value every render.
  const key = JSON.stringify(query ?? {});

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    get<Page<T>>(path, { query: { ...query, limit: pageSize }, signal: controller.signal })
      .then((page) => {
        setItems(page.items);
        setNext(page.next);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) {
          // Items of an earlier filter must not stand under this one's error.
          setItems([]);
          setNext(null);
          setError(err);
        }
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [path, key, pageSize, reloads]);

  const loadMore = useCallback(() => {
    if (!next) return;
    setLoading(true);
    get<Page<T>>(path, { query: { ...query, limit: pageSize, cursor: next } })
      .then((page) => {
        setItems((prev) => [...prev, ...page.items]);
        setNext(page.next);
        setError(null);
      })
      .catch((err: unknown) => setError(err))
      .finally(() => setLoading(false));
  }, [next, path, key, pageSize]);

  const reload = useCallback(() => setReloads((n) => n + 1), []);
  return { items, loading, error, hasMore: next !== null, loadMore, reload, update: setItems };
}
