import http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

export interface RedirectServerOptions {
  /** Port of the HTTPS listener the redirect points at. */
  httpsPort: number;
  /** Host (optionally `host:port`) used when the request's Host header is missing or invalid. */
  publicHost?: string;
}

interface Authority {
  host: string;
  port?: number;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Parses `host[:port]` or `[v6]:port` strictly: anything else (userinfo, paths,
 * spaces, zone ids, control characters) is rejected, so a Host header can only
 * ever be echoed back as a plain host name or address.
 */
function parseAuthority(value: string): Authority | undefined {
  const split = splitHostPort(value.trim().toLowerCase());
  if (!split) return undefined;
  const { host, portText } = split;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65_535) return undefined;
  }
  if (host.startsWith('[')) {
    const inner = host.slice(1, -1);
    return isIPv6(inner) && !inner.includes('%') ? { host, port } : undefined;
  }
  if (isIPv4(host)) return { host, port };
  if (host.length === 0 || host.length > 253) return undefined;
  const labels = host.replace(/\.$/, '').split('.');
  return labels.every((label) => LABEL.test(label)) ? { host, port } : undefined;
}

function splitHostPort(value: string): { host: string; portText?: string } | undefined {
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return undefined;
    const rest = value.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    return { host: value.slice(0, end + 1), portText: rest === '' ? undefined : rest.slice(1) };
  }
  const colon = value.indexOf(':');
  return colon < 0 ? { host: value } : { host: value.slice(0, colon), portText: value.slice(colon + 1) };
}

/** The request target as an origin-form path, percent-encoding anything that is not printable ASCII. */
function pathOf(url: string | undefined): string {
  let target = url ?? '/';
  if (!target.startsWith('/')) {
    // absolute-form (`GET http://x/y`) keeps its path; `OPTIONS *` and junk become `/`.
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      target = '/';
    }
  }
  // Node hands over raw bytes as latin1 characters; re-encoding each as %XX restores them exactly.
  return target.replace(/[^\x21-\x7e]/g, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(ch);
  });
}

/**
 * A plain-HTTP listener that only redirects to HTTPS (DESIGN.md §8): every
 * method and path gets a bodiless 308 to the same path and query on the HTTPS port.
 */
export function createRedirectServer(opts: RedirectServerOptions): http.Server {
  const fallback = parseAuthority(opts.publicHost ?? 'localhost');
  // Config is settled at boot: a bad publicHost stops start-up instead of redirecting somewhere odd.
  if (!fallback) throw new Error('redirect server: publicHost is not a valid host name or address');
  const fallbackPort = fallback.port ?? opts.httpsPort;

  const server = http.createServer(
    // Short timeouts: nothing here is worth holding a connection open for.
    { requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      const fromHeader = req.headers.host === undefined ? undefined : parseAuthority(req.headers.host);
      const host = fromHeader?.host ?? fallback.host;
      const port = fromHeader ? opts.httpsPort : fallbackPort;
      const location = `https://${host}${port === 443 ? '' : `:${port}`}${pathOf(req.url)}`;
      res.writeHead(308, { Location: location, 'Content-Length': '0', 'Cache-Control': 'no-store' });
      res.end();
      // Any request body is ignored; drain it so keep-alive stays usable.
      req.resume();
    },
  );
  return server;
}
