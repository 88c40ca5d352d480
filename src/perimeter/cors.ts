import type { IncomingHttpHeaders } from 'node:http';

export interface CorsOptions {
  allowedOrigins: readonly string[];
  allowedMethods: readonly string[];
  allowedHeaders: readonly string[];
  maxAgeSeconds: number;
}

/** Response headers the dashboard's scripts may read across origins. */
const EXPOSED = 'retry-after, ratelimit, ratelimit-policy';

export interface Cors {
  /** A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method). */
  isPreflight(method: string, headers: IncomingHttpHeaders): boolean;
  /** Headers for a preflight answer: the allow lists for an allowed origin and request, none otherwise. */
  preflightHeaders(headers: IncomingHttpHeaders): Record<string, string>;
  /** Headers for an actual response: credentials for an allowed origin, none otherwise. */
  responseHeaders(headers: IncomingHttpHeaders): Record<string, string>;
}

/** An origin exactly as browsers send it: scheme, host, optional port; nothing else. */
function canonicalOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`perimeter.cors.allowedOrigins: "${text}" is not an origin such as https://app.example.com`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== text.replace(/\/$/, '').toLowerCase()) {
    throw new Error(`perimeter.cors.allowedOrigins: "${text}" must be a bare origin such as https://app.example.com (no path, no wildcard)`);
  }
  return url.origin;
}

/**
 * CORS is off unless origins are listed: no listed origin, no
 * Access-Control-* header at all. Origins are matched exactly (never reflected
 * blindly, never `*`, never `null`), since credentials are allowed.
 */
export function createCors(opts: CorsOptions): Cors | null {
  if (opts.allowedOrigins.length === 0) return null;
  const origins = new Set(opts.allowedOrigins.map(canonicalOrigin));
  const methods = new Set(opts.allowedMethods.map((m) => m.toUpperCase()));
  const allowedHeaders = new Set(opts.allowedHeaders.map((h) => h.toLowerCase()));
  const allowedOrigin = (headers: IncomingHttpHeaders): string | null => {
    const origin = headers.origin;
    return typeof origin === 'string' && origins.has(origin) ? origin : null;
  };
  return {
    isPreflight: (method, headers) => method === 'OPTIONS' && typeof headers.origin === 'string' && typeof headers['access-control-request-method'] === 'string',
    preflightHeaders(headers) {
      const origin = allowedOrigin(headers);
      const method = String(headers['access-control-request-method'] ?? '').toUpperCase();
      const requested = String(headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== '');
      const vary = { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' };
      if (!origin || !methods.has(method) || !requested.every((h) => allowedHeaders.has(h))) return vary;
      return {
        ...vary,
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': [...methods].join(', '),
        'access-control-allow-headers': [...allowedHeaders].join(', '),
        'access-control-max-age': String(opts.maxAgeSeconds),
      };
    },
    responseHeaders(headers): Record<string, string> {
      const origin = allowedOrigin(headers);
      if (!origin) return {};
      return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': EXPOSED };
    },
  };
}
