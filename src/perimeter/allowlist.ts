import { compileCidrs, parseIp } from '../protocol/ip.js';

/**
 * Whether a request is for the admin surface: `/api/admin/*` and the admin
 * pages `/admin*`. Judged on both the matched route pattern and the decoded
 * path, so `/api/%61dmin/users` (which the router decodes and matches) is
 * caught too; a path that does not decode is treated as admin (fail closed).
 */
export function isAdminPath(routeUrl: string | undefined, rawUrl: string): boolean {
  if (routeUrl !== undefined && isAdminPattern(routeUrl)) return true;
  const query = rawUrl.indexOf('?');
  const path = query < 0 ? rawUrl : rawUrl.slice(0, query);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return true;
  }
  // Collapse repeated slashes so `//admin` or `/api//admin` cannot dodge the prefix test.
  return isAdminPattern(decoded.replace(/\/{2,}/g, '/').toLowerCase());
}

function isAdminPattern(path: string): boolean {
  // Prefixes, not segments: erring towards "admin" only ever refuses more.
  return path.startsWith('/api/admin') || path.startsWith('/admin');
}

/** The admin IP allowlist; null when not configured (everyone may try to sign in). */
export function createAdminAllowlist(cidrs: readonly string[]): ((ip: string) => boolean) | null {
  if (cidrs.length === 0) return null;
  const allowed = compileCidrs(cidrs, 'perimeter.adminIpAllowlist');
  return (ip) => {
    const parsed = parseIp(ip);
    return parsed !== null && allowed(parsed);
  };
}
