import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Clock } from '../../src/lib/clock.js';
import { createLogger, type Logger } from '../../src/server/logger.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createPostgresDatabase, redisServerEnv } from './backends.js';
import { HttpsClient } from './client.js';

export type Mode = 'embedded' | 'cluster';

export interface TestServer {
  mode: Mode;
  server: RunningServer;
  config: Config;
  /** The environment the config was loaded from (cluster URLs and secrets): what a CLI on the same deployment needs. */
  env: Record<string, string>;
  /** The one-time password printed for `admin` at first start. */
  adminPassword: string;
  printed: string[];
  client(): HttpsClient;
  close(): Promise<void>;
}

/** Which modes can run here: embedded always; cluster when PostgreSQL and Redis are up. */
export function modes(): Array<{ mode: Mode; available: boolean }> {
  return [
    { mode: 'embedded', available: true },
    { mode: 'cluster', available: inject('databaseUrl') !== null && inject('redisUrl') !== null },
  ];
}

/**
 * Every test client is 127.0.0.1, so the per-IP limits and scanner blocking
 * (100 requests a minute, 5 failed logins, 30 404s, 20 401s) would trip on
 * ordinary suites. They are raised here; test/perimeter passes the real values.
 */
export const RELAXED_PERIMETER_ENV: Readonly<Record<string, string>> = {
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_AGENT_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '1000000',
  FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '1000000',
  FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '1000000',
};

/**
 * Starts a real server over HTTPS on 127.0.0.1 with a fresh data dir: SQLite and
 * the in-process KV, or a fresh PostgreSQL database and the shared Redis with
 * supplied secrets (cluster mode refuses to generate them).
 */
export async function startTestServer(opts: { mode?: Mode; env?: Record<string, string>; clock?: Clock; log?: Logger } = {}): Promise<TestServer> {
  const mode = opts.mode ?? 'embedded';
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dataDir, { recursive: true, force: true })];
  // Suites that drive admin routes with a password-only admin run without the
  // MFA-for-admins requirement; the MFA suites turn it back on (the product default).
  const env: Record<string, string> = { FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'false', ...RELAXED_PERIMETER_ENV, ...opts.env };
  if (mode === 'cluster') {
    const database = await createPostgresDatabase();
    cleanups.push(database.drop);
    env.DATABASE_URL = database.url;
    Object.assign(env, redisServerEnv());
  }
  const config = await loadConfig({ env, overrides: { dataDir, server: { host: '127.0.0.1', port: 0 } } });
  const printed: string[] = [];
  const server = await startServer(config, { print: (line) => printed.push(line), log: opts.log ?? createLogger('silent'), clock: opts.clock });
  const adminPassword = printed.find((l) => l.startsWith('initial admin password: '))?.slice('initial admin password: '.length) ?? '';
  const clients: HttpsClient[] = [];
  return {
    mode,
    server,
    config,
    env,
    adminPassword,
    printed,
    client() {
      const client = new HttpsClient(server.port, server.certificate.certPem);
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

export const STRONG_PASSWORD = 'Correct-Horse-Battery-9';

/** Logs in as admin, changes the one-time password, and returns the signed-in client. */
export async function adminClient(t: TestServer, newPassword = STRONG_PASSWORD): Promise<HttpsClient> {
  const client = t.client();
  const login = await client.post('/api/auth/login', { username: 'admin', password: t.adminPassword });
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${login.text}`);
  const changed = await client.send('POST', '/api/me/password', { currentPassword: t.adminPassword, newPassword });
  if (changed.status !== 200) throw new Error(`password change failed: ${changed.status} ${changed.text}`);
  return client;
}
