/**
 * bench:auth — the cost of authentication on the hot path, and memory under a login flood.
 *   1. authenticated GET /api/me req/s against unauthenticated GET /healthz req/s (target ratio >= 0.7)
 *   2. peak RSS of the server while 500 logins arrive at once (target < 600 MiB), with the
 *      p99 login latency of a second user during that flood.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminBearer, caller, cpuTimeMs, currentRssMiB, mean, pairedRatio, peakRssMiB, percentile, printFigure, startBenchServer, throughput } from './lib.js';

const PASSWORD = 'Bench-Owner-Password-1';
const SECOND = 'Bench-Second-Password-2';
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
/** Measured time per path, in rounds of about a second (an even number). */
const ROUNDS = 2 * Math.max(2, Math.round(DURATION_MS / 2000));
const CONCURRENCY = 32;

/**
 * The flood is 500 logins from one address, half with a wrong password: the
 * perimeter would stop it after a handful (per-IP and failed-login limits, the
 * scanner rule). Those limits are lifted here so every login reaches argon2,
 * which is what the memory figure is about.
 */
const SERVER_ENV = {
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '1000000',
  // Likewise the per-user limit (1,000/h), which /api/me would reach within the first second.
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '1000000',
  FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '1000000',
};

const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const server = await startBenchServer(dataDir, SERVER_ENV);
try {
  const client = caller(server.port, server.ca, CONCURRENCY);
  // An admin needs a second factor before any admin route answers (security.requireMfaForAdmins).
  const token = await adminBearer(client, server.adminPassword, PASSWORD);
  const created = await client.call('POST', '/api/admin/users', { bearer: token, body: { username: 'bystander', password: SECOND, role: 'viewer' } });
  if (created.status !== 201) throw new Error(`could not create the second user: ${created.status}`);

  // Only 200s count: a refusal is cheaper than the work and would flatter the figure.
  const ok = (path: string, bearer?: string) => async () => {
    const res = await client.call('GET', path, bearer ? { bearer } : {});
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}; the figure would not be honest`);
  };
  const healthzOnce = ok('/healthz');
  const meOnce = ok('/api/me', token);
  // Warm both paths, then measure them in alternating rounds (ABBA), so drift and other work on this machine hit both alike.
  await throughput(healthzOnce, CONCURRENCY, 1000);
  await throughput(meOnce, CONCURRENCY, 1000);
  const pid = server.child.pid ?? 0;
  const paths = [
    { name: '/healthz', once: healthzOnce, rates: [] as number[], cpuMs: 0, requests: 0 },
    { name: '/api/me', once: meOnce, rates: [] as number[], cpuMs: 0, requests: 0 },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of round % 2 === 0 ? paths : [...paths].reverse()) {
      const cpuBefore = cpuTimeMs(pid);
      const rate = await throughput(path.once, CONCURRENCY, DURATION_MS / ROUNDS);
      path.cpuMs += cpuTimeMs(pid) - cpuBefore;
      path.requests += (rate * DURATION_MS) / ROUNDS / 1000;
      path.rates.push(rate);
    }
  }
  // Server CPU per request tells a slow path from a busy machine.
  for (const p of paths) process.stderr.write(`bench:auth ${p.name}: ${p.rates.map(Math.round).join('/')} req/s, server CPU ${(p.cpuMs / p.requests).toFixed(3)} ms/request\n`);
  const [healthzRates, meRates] = paths.map((p) => p.rates) as [number[], number[]];

  // 500 logins at once on fresh connections, while a second user logs in over and over.
  const idleRss = currentRssMiB(server.child.pid ?? 0);
  const flooder = caller(server.port, server.ca, 500);
  const second = caller(server.port, server.ca, 1);
  let flooding = true;
  const flood = Promise.all(
    Array.from({ length: 500 }, (_, i) => flooder.call('POST', '/api/auth/login', { body: { username: 'admin', password: i % 2 === 0 ? PASSWORD : 'Wrong-Password-00!' } })),
  ).finally(() => {
    flooding = false;
  });
  const latencies: number[] = [];
  while (flooding) {
    const started = performance.now();
    const res = await second.call('POST', '/api/auth/token', { body: { username: 'bystander', password: SECOND } });
    if (res.status !== 200) throw new Error(`second user login failed: ${res.status}`);
    latencies.push(performance.now() - started);
  }
  await flood;
  const peak = peakRssMiB(server.child.pid ?? 0);
  for (const c of [client, flooder, second]) c.agent.destroy();

  printFigure({ bench: 'auth-login-p99-during-flood', value: Math.round(percentile(latencies, 99)), baseline: Math.round(percentile(latencies, 50)), ratio: +(percentile(latencies, 99) / percentile(latencies, 50)).toFixed(2), target: 0, unit: 'ms (p99 vs p50 of the second user, informational)' });
  printFigure({ bench: 'auth-login-flood-peak-rss', value: Math.round(peak), baseline: Math.round(idleRss), ratio: +(peak / 600).toFixed(2), target: 1, unit: 'MiB (ratio = peak / 600 MiB budget; target < 1)' });
  printFigure({ bench: 'auth-me-vs-healthz', value: Math.round(mean(meRates)), baseline: Math.round(mean(healthzRates)), ratio: pairedRatio(meRates, healthzRates), target: 0.7, unit: 'req/s, mean of alternating ~1 s rounds (ratio = median of per-round ratios)' });
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
