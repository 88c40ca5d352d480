import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

/** A few routes and the History API are all the dashboard needs; the server answers every such path with index.html. */

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

export type Route =
  | { name: 'overview' }
  | { name: 'machine'; id: string }
  | { name: 'enrollment' }
  | { name: 'agents' }
  | { name: 'users' }
  | { name: 'audit' }
  | { name: 'security' }
  | { name: 'account' }
  | { name: 'not-found' };

export function matchRoute(path: string): Route {
  const clean = path.replace(/\/+$/, '') || '/';
  if (clean === '/') return { name: 'overview' };
  const machine = /^\/machines\/([^/]+)$/.exec(clean);
  if (machine?.[1]) return { name: 'machine', id: decodeURIComponent(machine[1]) };
  if (clean === '/admin/enrollment') return { name: 'enrollment' };
  if (clean === '/admin/agents') return { name: 'agents' };
  if (clean === '/admin/users') return { name: 'users' };
  if (clean === '/admin/audit') return { name: 'audit' };
  if (clean === '/admin/security') return { name: 'security' };
  if (clean === '/account') return { name: 'account' };
  return { name: 'not-found' };
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
