import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/lib/clock.js';
import { buildApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { openServices, type Services } from '../../src/server/services.js';
import { CONTENT_SECURITY_POLICY } from '../../src/perimeter/headers.js';
import { RELAXED_PERIMETER_ENV } from '../harness/server.js';

/** The product defaults, passed explicitly because the shared harness relaxes them for other suites. */
export const SECURE_PERIMETER_ENV: Readonly<Record<string, string>> = {
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '100',
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '1000',
  FLOTILLA_PERIMETER_RATE_LIMIT_AGENT_LIMIT: '300',
  FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '5',
  FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '30',
  FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '20',
};

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  /** JSON log lines written by the app. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * The real app and services without a listener, for `inject` (which sets the
 * TCP peer through `remoteAddress`). Extra routes can be added before `ready()`.
 */
export async function buildTestApp(opts: { env?: Record<string, string>; clock?: Clock } = {}): Promise<TestApp> {
  const env = { FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'false', ...RELAXED_PERIMETER_ENV, ...opts.env };
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-perimeter-'));
  const config = await loadConfig({ env, overrides: { dataDir } }).catch((err: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  let services: Services;
  try {
    services = await openServices(config, { log, clock: opts.clock });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const app = await buildApp(services);
  return {
    app,
    services,
    logs,
    async close() {
      await app.close();
      await services.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The security headers, header by header. */
export function expectSecurityHeaders(headers: Record<string, unknown>, what: string, opts: { preload?: boolean; noStore?: boolean } = {}): void {
  expect(headers['strict-transport-security'], what).toBe(`max-age=31536000; includeSubDomains${opts.preload ? '; preload' : ''}`);
  expect(headers['content-security-policy'], what).toBe(CONTENT_SECURITY_POLICY);
  expect(String(headers['content-security-policy'])).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  expect(headers['x-frame-options'], what).toBe('DENY');
  expect(headers['x-content-type-options'], what).toBe('nosniff');
  expect(headers['referrer-policy'], what).toBe('no-referrer');
  expect(headers['cross-origin-opener-policy'], what).toBe('same-origin');
  expect(headers['cross-origin-resource-policy'], what).toBe('same-origin');
  expect(headers['cross-origin-embedder-policy'], what).toBe('require-corp');
  for (const feature of ['camera', 'microphone', 'geolocation', 'usb', 'payment']) expect(String(headers['permissions-policy']), what).toContain(`${feature}=()`);
  expect(headers['x-xss-protection'], what).toBe('0');
  if (opts.noStore) expect(headers['cache-control'], what).toBe('no-store');
}
