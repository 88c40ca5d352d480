import http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface RedirectServerOptions {
  /** Port of the HTTPS listener the redirect points at. */
  httpsPort: number;
  /** server.publicUrl: when set, every redirect goes to its origin, whatever the request says. */
  publicUrl?: string;
  /** server.tls.names: a Host header naming one is kept; the first replaces any other Host. */
  tlsNames?: readonly string[];
  /** The names the HTTPS certificate is valid for: a Host header naming one is kept. */
  certificateNames?: readonly string[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * One spelling per host, to compare a Host header with our names: lower case,
 * no trailing dot, IPs in their canonical form and without brackets.
 * Undefined for anything that is not a plain DNS name or IP address.
 */
function hostKey(value: string): string | undefined {
  const host = value.trim().toLowerCase().replace(/\.$/, '');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIPv6(bare)) return bare.includes('%') ? undefined : ipaddr.parse(bare).toString();
  if (host !== bare) return undefined;
  if (isIPv4(host)) return host;
  if (host.length === 0 || host.length > 253) return undefined;
  return host.split('.').every((label) => LABEL.test(label)) ? host : undefined;
}

/** The host part of a Host header (`name`, `name:port`, `[v6]:port`), or undefined when it has any other shape. */
function hostOfHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const colon = text.indexOf(':');
  const end = text.startsWith('[') ? text.indexOf(']') + 1 : colon < 0 ? text.length : colon;
  if (end <= 0) return undefined;
  const port = text.slice(end);
  // The port is only checked for shape: the redirect always uses the HTTPS port.
  if (port !== '' && !/^:\d{1,5}$/.test(port)) return undefined;
  return hostKey(text.slice(0, end));
}

/** A host as it goes into a URL: IPv6 in brackets. */
const urlHost = (key: string): string => (isIPv6(key) ? `[${key}]` : key);

/** The address the client reached this listener on: ours, not anything the client wrote. */
function listenerHost(socket: { localAddress?: string | undefined }): string {
  const address = (socket.localAddress ?? '').replace(/%.*$/, '');
  if (!ipaddr.isValid(address)) return 'localhost';
  const parsed = ipaddr.process(address); // ::ffff:a.b.c.d becomes a.b.c.d
  return urlHost(parsed.toString());
}

/** `https://host[:port]` of server.publicUrl; a bad value stops the boot. */
function publicOrigin(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch (err) {
    throw new Error('server.publicUrl: not a valid URL', { cause: err });
  }
  if (url.protocol !== 'https:') throw new Error('server.publicUrl: must be an https:// URL');
  if (url.username || url.password) throw new Error('server.publicUrl: must not carry a user name or password');
  return url.origin;
}

/**
 * The request target as an origin-form path and query. Only printable ASCII
 * passes unencoded; a backslash is encoded too, since browsers read it as a
 * slash. The result always starts with one `/` and goes after our own origin,
 * so `//evil.example/x` stays a path on our host.
 */
function pathOf(url: string | undefined): string {
  let target = url ?? '/';
  if (!target.startsWith('/')) {
    // absolute-form (`GET http://x/y`) keeps only its path; `OPTIONS *` and junk become `/`.
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      target = '/';
    }
  }
  // Node hands over raw bytes as latin1 characters; re-encoding each as %XX restores them exactly.
  return target.replace(/[^\x21-\x5b\x5d-\x7e]/g, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(ch);
  });
}

/**
 * A plain-HTTP listener that only redirects to HTTPS: every
 * method and path gets a bodiless 308 to the same path and query. The target
 * origin never comes from the request: it is server.publicUrl when set, else
 * one of our own names, else the address the client connected to.
 */
export function createRedirectServer(opts: RedirectServerOptions): http.Server {
  const fixedOrigin = opts.publicUrl === undefined ? undefined : publicOrigin(opts.publicUrl);
  // Our names by comparison key, each mapped to our own spelling: a kept Host is written as we spell it.
  const known = new Map<string, string>();
  for (const name of [...(opts.tlsNames ?? []), ...(opts.certificateNames ?? [])]) {
    const key = hostKey(name);
    if (key !== undefined && !known.has(key)) known.set(key, urlHost(key));
  }
  const firstConfigured = (opts.tlsNames ?? []).map(hostKey).find((key) => key !== undefined);
  const portSuffix = opts.httpsPort === 443 ? '' : `:${opts.httpsPort}`;

  const originFor = (req: http.IncomingMessage): string => {
    if (fixedOrigin) return fixedOrigin;
    const fromHeader = hostOfHeader(req.headers.host);
    const host = (fromHeader && known.get(fromHeader)) ?? (firstConfigured ? urlHost(firstConfigured) : listenerHost(req.socket));
    return `https://${host}${portSuffix}`;
  };

  return http.createServer(
    // Short timeouts: nothing here is worth holding a connection open for.
    { requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      res.writeHead(308, { Location: originFor(req) + pathOf(req.url), 'Content-Length': '0', 'Cache-Control': 'no-store' });
      res.end();
      // Any request body is ignored; drain it so keep-alive stays usable.
      req.resume();
    },
  );
}
