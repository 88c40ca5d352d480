import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';
import { matchDashboardPath, type DashboardRouteName } from '../../lib/dashboard-routes.js';

/** A few routes and the History API are all the dashboard needs; the server answers each route's path with index.html. */

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

const currentPath = () => window.location.pathname + window.location.search;

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === currentPath()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  for (const listener of [...listeners]) listener();
  window.scrollTo(0, 0);
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

/** Routes with an `:id` segment carry it decoded. */
type RouteWithId = 'machine' | 'command';
export type Route = { name: Exclude<DashboardRouteName, RouteWithId> } | { name: RouteWithId; id: string } | { name: 'not-found' };

/** The page for a path, from the table the server also serves index.html by (lib/dashboard-routes). */
export function matchRoute(path: string): Route {
  const match = matchDashboardPath(path);
  if (!match) return { name: 'not-found' };
  if (match.name !== 'machine' && match.name !== 'command') return { name: match.name };
  try {
    return { name: match.name, id: decodeURIComponent(match.params.id ?? '') };
  } catch {
    return { name: 'not-found' };
  }
}

/** An ordinary link (middle-click, copy address and the like keep working) that navigates in place. */
export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'>) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a {...rest} href={to} onClick={onClick}>
      {children}
    </a>
  );
}
