/**
 * The dashboard's client-side routes: one table for the browser's router and
 * for the server, which answers index.html only for these paths and 404 for
 * everything else (so scanners probing `/wp-admin/` are counted, not served a page).
 */
export const DASHBOARD_ROUTES = [
  { name: 'overview', path: '/' },
  { name: 'machine', path: '/machines/:id' },
  { name: 'commands', path: '/commands' },
  { name: 'command', path: '/commands/:id' },
  { name: 'enrollment', path: '/admin/enrollment' },
  { name: 'agents', path: '/admin/agents' },
  { name: 'users', path: '/admin/users' },
  { name: 'audit', path: '/admin/audit' },
  { name: 'security', path: '/admin/security' },
  { name: 'account', path: '/account' },
] as const;

export type DashboardRouteName = (typeof DASHBOARD_ROUTES)[number]['name'];

export interface DashboardMatch {
  name: DashboardRouteName;
  /** `:param` segments, still percent-encoded as they were in the path. */
  params: Record<string, string>;
}

const compiled = DASHBOARD_ROUTES.map((route) => ({ name: route.name, segments: route.path.split('/').slice(1) }));

/** Matches a URL path (no query; trailing slashes ignored) against the table; null when it is no dashboard page. */
export function matchDashboardPath(pathname: string): DashboardMatch | null {
  const segments = (pathname.replace(/\/+$/, '') || '/').split('/').slice(1);
  for (const route of compiled) {
    const wanted = route.segments;
    if (wanted.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = wanted.every((part, i) => {
      const actual = segments[i] ?? '';
      if (!part.startsWith(':')) return part === actual;
      params[part.slice(1)] = actual;
      return actual !== '';
    });
    if (matches) return { name: route.name, params };
  }
  return null;
}
