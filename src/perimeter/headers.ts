/**
 * The security response headers, set on every answer the app gives:
 * JSON, HTML, files, redirects, errors and early refusals alike.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Powerful browser features the dashboard never needs, denied to every frame.
 * WebAuthn (`publickey-credentials-*`) is left at its default, self, for passkeys.
 */
export const PERMISSIONS_POLICY = [
  'accelerometer',
  'ambient-light-sensor',
  'autoplay',
  'bluetooth',
  'browsing-topics',
  'camera',
  'display-capture',
  'geolocation',
  'gyroscope',
  'hid',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'serial',
  'usb',
  'xr-spatial-tracking',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

export function securityHeaders(opts: { hstsPreload: boolean }): Readonly<Record<string, string>> {
  return Object.freeze({
    'strict-transport-security': `max-age=31536000; includeSubDomains${opts.hstsPreload ? '; preload' : ''}`,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'permissions-policy': PERMISSIONS_POLICY,
    'x-permitted-cross-domain-policies': 'none',
    // 0 switches the legacy XSS auditor off: its page-rewriting could itself be abused to
    // blank out or leak parts of a page, and the strict CSP above is the real protection.
    'x-xss-protection': '0',
  });
}

/** API answers, health probes and every error are never stored by browsers or proxies. */
export function isNoStorePath(path: string): boolean {
  return path.startsWith('/api/') || path === '/api' || path === '/healthz' || path === '/readyz' || path === '/metrics';
}
