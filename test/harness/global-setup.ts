/**
 * Vitest globalSetup: finds or starts Redis and PostgreSQL once per run and
 * hands their URLs to test files (`inject('redisUrl')`). REDIS_URL and
 * DATABASE_URL win; otherwise private servers are started when the binaries
 * exist. With FLOTILLA_REQUIRE_SERVICES=1 (CI) a missing service fails the run,
 * so store tests never silently skip.
 */
import type { TestProject } from 'vitest/node';
import { findOnPath, findPostgresBinDir, startPostgres, startRedis, type RunningService } from './services.js';
import { ensureWebBuilt } from './web-build.js';

declare module 'vitest' {
  interface ProvidedContext {
    redisUrl: string | null;
    databaseUrl: string | null;
  }
}

type Acquired = { url: string | null; started?: RunningService };

async function acquire(name: string, envUrl: string | undefined, start: (() => Promise<RunningService>) | null, required: boolean): Promise<Acquired> {
  if (envUrl) return { url: envUrl };
  const missing = (why: string): Acquired => {
    if (required) throw new Error(`FLOTILLA_REQUIRE_SERVICES=1 but ${name} is unavailable: ${why}`);
    console.warn(`[test harness] ${name} unavailable (${why}); its tests are skipped`);
    return { url: null };
  };
  if (!start) return missing('binary not found');
  try {
    const started = await start();
    return { url: started.url, started };
  } catch (err) {
    return missing(err instanceof Error ? err.message : String(err));
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const required = process.env.FLOTILLA_REQUIRE_SERVICES === '1';
  const redisServer = findOnPath('redis-server');
  const pgBin = findPostgresBinDir();
  const started: RunningService[] = [];
  const teardown = async (): Promise<void> => {
    for (const service of started.reverse()) await service.stop();
  };

  // The dashboard builds (only when its sources changed) while the services start.
  const webBuild = ensureWebBuilt();
  try {
    const [redis, postgres] = await Promise.allSettled([
      acquire('Redis', process.env.REDIS_URL, redisServer ? () => startRedis(redisServer) : null, required),
      acquire('PostgreSQL', process.env.DATABASE_URL, pgBin ? () => startPostgres(pgBin) : null, required),
    ]);
    for (const r of [redis, postgres]) if (r.status === 'fulfilled' && r.value.started) started.push(r.value.started);
    for (const r of [redis, postgres]) if (r.status === 'rejected') throw r.reason;
    project.provide('redisUrl', redis.status === 'fulfilled' ? redis.value.url : null);
    project.provide('databaseUrl', postgres.status === 'fulfilled' ? postgres.value.url : null);
    project.provide('webBuildError', await webBuild);
  } catch (err) {
    // One service failed while the other started: do not leave it running.
    await teardown();
    throw err;
  }
  return teardown;
}
