/**
 * bench:perimeter — the cost of the perimeter on an authenticated route.
 * Admin GET /api/admin/security/blocks (an MFA-enrolled admin's bearer token; an admin route, so
 * the admin IP allowlist runs) req/s on a server with every perimeter control on, against one
 * with each control that configuration can switch off switched off, in alternating rounds of
 * the same run (target ratio >= 0.8). Both get the same request: Origin of the allowed origin and
 * X-Forwarded-For of a public address in a country that is not blocked, from the loopback peer
 * the "on" server trusts as a proxy. Each server is first checked to apply (or not) each control.
 *
 * Configuration cannot switch these off, so both servers run them:
 *   - the security headers (CSP, HSTS, …), set on every answer;
 *   - the per-IP and per-user rate limiters: only their limits are configurable, here high enough
 *     that the bench never meets a 429 while each request is still counted (RateLimit headers);
 *   - the scanner's blocklist lookup on every request (its 404/401 counting only runs on those
 *     answers); the "off" server raises both thresholds to the maximum so it can never block.
 */
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoIp } from '../src/perimeter/geoip.js';
import { adminBearer, caller, printFigure, startBenchServer, throughput, type BenchServer } from './lib.js';

const PASSWORD = 'Bench-Owner-Password-1';
const ORIGIN = 'https://dashboard.example.com';
const ROUTE = '/api/admin/security/blocks';
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 6000);
const ROUNDS = 6;
const CONCURRENCY = 32;
const BLOCKED_COUNTRIES = ['CN', 'RU', 'KP', 'IR'];
const NOT_FOUND_LIMIT = 3;

/** Public addresses of a country in the bundled database, found by reading it. */
function addressesIn(geo: GeoIp, country: string, count: number): string[] {
  const found: string[] = [];
  for (let a = 1; a < 224 && found.length < count; a++) {
    for (let b = 0; b < 256 && found.length < count; b += 8) {
      const ip = `${a}.${b}.1.1`;
      if (geo.country(ip) === country) found.push(ip);
    }
  }
  if (found.length < count) throw new Error(`only ${found.length} ${country} addresses in the database`);
  return found;
}

const geo = await GeoIp.open();
const [client, outsider, scanner] = addressesIn(geo, 'US', 3) as [string, string, string];
const [blocked] = addressesIn(geo, 'CN', 1) as [string];

/**
 * Shared by both servers: rate limits high enough that no run reaches them, so every request
 * is counted and none refused.
 */
const COMMON = {
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_WINDOW_SECONDS: '3600',
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '1000000',
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_WINDOW_SECONDS: '3600',
};
const ON = {
  ...COMMON,
  FLOTILLA_PERIMETER_CORS_ALLOWED_ORIGINS: ORIGIN,
  FLOTILLA_PERIMETER_TRUSTED_PROXIES: '127.0.0.1',
  FLOTILLA_PERIMETER_ADMIN_IP_ALLOWLIST: `127.0.0.1/32,${client}/32`,
  FLOTILLA_PERIMETER_GEO_BLOCKING_COUNTRIES: BLOCKED_COUNTRIES.join(','),
  FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: String(NOT_FOUND_LIMIT),
};
const OFF = {
  ...COMMON,
  FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '1000000',
  FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '1000000',
};

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  code: string | undefined;
}

/** A GET with chosen headers over a keep-alive agent; the body is read for its error code only. */
function get(agent: https.Agent, port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method: 'GET', path, headers, agent }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const code = res.statusCode !== undefined && res.statusCode >= 400 ? /"code":"([a-z_]+)"/.exec(text)?.[1] : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Target {
  name: string;
  server: BenchServer;
  agent: https.Agent;
  /** A request as the measured client sends it, optionally from another forwarded address. */
  send(path?: string, from?: string): Promise<Answer>;
}

async function start(name: string, dataDir: string, env: Record<string, string>): Promise<Target> {
  const server = await startBenchServer(dataDir, env);
  const setup = caller(server.port, server.ca, 1);
  let token: string;
  try {
    token = await adminBearer(setup, server.adminPassword, PASSWORD);
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    setup.agent.destroy();
  }
  const agent = new https.Agent({ ca: server.ca, keepAlive: true, maxSockets: CONCURRENCY, servername: 'localhost' });
  return {
    name,
    server,
    agent,
    send: (path = ROUTE, from = client) => get(agent, server.port, path, { authorization: `Bearer ${token}`, origin: ORIGIN, 'x-forwarded-for': from }),
  };
}

function expect(what: string, ok: boolean): void {
  if (!ok) throw new Error(`bench:perimeter check failed: ${what}`);
}

/** The "on" server applies each control to the bench's request; refusals come from the right one. */
async function checkOn(t: Target): Promise<void> {
  const res = await t.send();
  expect(`on: the route answers 200 (got ${res.status} ${res.code ?? ''})`, res.status === 200);
  expect('on: CSP and HSTS', typeof res.headers['content-security-policy'] === 'string' && typeof res.headers['strict-transport-security'] === 'string');
  expect('on: RateLimit for ip and user', /"ip"/.test(String(res.headers['ratelimit-policy'])) && /"user"/.test(String(res.headers['ratelimit-policy'])));
  expect('on: CORS for the allowed origin', res.headers['access-control-allow-origin'] === ORIGIN);
  expect('on: geo-blocked forwarded client', (await t.send('/api/me', blocked)).code === 'geo_blocked');
  expect('on: forwarded client off the admin allowlist', (await t.send(ROUTE, outsider)).code === 'ip_not_allowed');
}

/** The "off" server ignores Origin and X-Forwarded-For, blocks nobody; headers and limits stay (see above). */
async function checkOff(t: Target): Promise<void> {
  const res = await t.send();
  expect(`off: the route answers 200 (got ${res.status} ${res.code ?? ''})`, res.status === 200);
  expect('off: no CORS headers', res.headers['access-control-allow-origin'] === undefined);
  expect('off: CSP and HSTS (always on)', typeof res.headers['content-security-policy'] === 'string');
  expect('off: RateLimit (always on)', typeof res.headers['ratelimit-policy'] === 'string');
  expect('off: forwarded client in a blocked country passes', (await t.send('/api/me', blocked)).status === 200);
  expect('off: admin route from another forwarded address passes', (await t.send(ROUTE, outsider)).status === 200);
}

/**
 * Run after measuring: a block would give the measured route (which lists blocks) more to
 * read on one side only.
 */
async function checkScanner(t: Target, blocks: boolean): Promise<void> {
  for (let i = 0; i <= NOT_FOUND_LIMIT; i++) await t.send('/api/bench-not-found', scanner);
  const code = (await t.send('/api/me', scanner)).code;
  expect(`${t.name}: scanner ${blocks ? 'blocks' : 'does not block'} after ${NOT_FOUND_LIMIT + 1} 404s`, blocks ? code === 'ip_blocked' : code === undefined);
}

const dirs = [mkdtempSync(join(tmpdir(), 'flotilla-bench-on-')), mkdtempSync(join(tmpdir(), 'flotilla-bench-off-'))] as const;
const targets: Target[] = [];
try {
  const on = await start('on', dirs[0], ON);
  targets.push(on);
  const off = await start('off', dirs[1], OFF);
  targets.push(off);
  await checkOn(on);
  await checkOff(off);

  const measure = (t: Target, ms: number) =>
    throughput(
      async () => {
        const res = await t.send();
        if (res.status !== 200) throw new Error(`${t.name}: ${res.status} ${res.code ?? ''}`);
      },
      CONCURRENCY,
      ms,
    );
  await measure(on, 1000);
  await measure(off, 1000);
  // Alternating rounds, so load from elsewhere on the machine falls on both sides alike.
  let onTotal = 0;
  let offTotal = 0;
  for (let round = 0; round < ROUNDS; round++) {
    onTotal += await measure(on, DURATION_MS / ROUNDS);
    offTotal += await measure(off, DURATION_MS / ROUNDS);
  }
  const onRate = onTotal / ROUNDS;
  const offRate = offTotal / ROUNDS;
  await checkScanner(on, true);
  await checkScanner(off, false);
  process.stdout.write('checked: the "on" server applied security headers, CORS, trusted proxy, rate limits, admin allowlist, GeoIP and scanner blocks; the "off" server only headers and limits\n');
  printFigure({ bench: 'perimeter-on-vs-off', value: Math.round(onRate), baseline: Math.round(offRate), ratio: +(onRate / offRate).toFixed(3), target: 0.8, unit: 'req/s' });
} finally {
  for (const t of targets) {
    t.agent.destroy();
    await t.server.stop();
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
