import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { totpCodeForStep, totpStepAt } from '../src/identity/mfa/totp.js';

/** One benchmark figure, printed as the single-line JSON the README's benchmark section describes. */
export interface Figure {
  bench: string;
  value: number;
  baseline: number;
  ratio: number;
  target: number;
  unit: string;
}

export function printFigure(figure: Figure): void {
  process.stdout.write(`${JSON.stringify(figure)}\n`);
}

export interface BenchServer {
  child: ChildProcess;
  port: number;
  ca: string;
  adminPassword: string;
  stop(): Promise<void>;
}

/** Starts the compiled server (`npm run build` first) on a fresh data dir. */
export async function startBenchServer(dataDir: string, env: Record<string, string> = {}): Promise<BenchServer> {
  const child = spawn(process.execPath, ['bin/flotilla.js', 'server', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], {
    // No local agent: its collection would compete with what is measured.
    env: { PATH: process.env.PATH ?? '', FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_LOCAL_AGENT: 'false', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /^listening url=\S+ fingerprint=\S+$/m.exec(out);
      if (match) resolve(match[0]);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  const port = Number(/:(\d+) /.exec(line)?.[1]);
  return {
    child,
    port,
    ca: readFileSync(`${dataDir}/tls/cert.pem`, 'utf8'),
    adminPassword: /initial admin password: (\S+)/.exec(out)?.[1] ?? '',
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface Caller {
  call(method: string, path: string, opts?: { body?: unknown; bearer?: string }): Promise<{ status: number; json: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  agent: https.Agent;
}

/** A keep-alive HTTPS client that trusts only the bench server's certificate. */
export function caller(port: number, ca: string, maxSockets = 64): Caller {
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets, servername: 'localhost' });
  return {
    agent,
    call(method, path, opts = {}) {
      const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers: Record<string, string> = {};
      if (payload) headers['content-type'] = 'application/json';
      if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
      return new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

/** Requests per second that `concurrency` closed loops achieve in `ms`. */
export async function throughput(run: () => Promise<unknown>, concurrency: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let done = 0;
  const loop = async () => {
    while (Date.now() < end) {
      await run();
      done++;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return done / ((Date.now() - started) / 1000);
}

/** Peak resident set size of a process so far, in MiB (Linux VmHWM). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export function currentRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * The median of per-round ratios: the two measured back to back in every
 * round, so a burst of other work on this machine spoils one round's ratio
 * instead of deciding the figure.
 */
export const pairedRatio = (value: number[], baseline: number[]): number => +percentile(value.map((v, i) => v / (baseline[i] ?? v)), 50).toFixed(3);

/**
 * A bearer token for the initial admin with every admin route open: logs in,
 * makes the required first password change, enrolls TOTP (admin routes want a
 * second factor by default) and signs in again with one of its backup codes.
 */
export async function adminBearer(client: Caller, initialPassword: string, newPassword: string): Promise<string> {
  const expect = <T extends { status: number }>(res: T, step: string): T => {
    if (res.status !== 200) throw new Error(`admin ${step} failed: ${res.status}`);
    return res;
  };
  const first = expect(await client.call('POST', '/api/auth/token', { body: { username: 'admin', password: initialPassword } }), 'login');
  expect(await client.call('POST', '/api/me/password', { bearer: first.json.accessToken, body: { currentPassword: initialPassword, newPassword } }), 'password change');
  // The change ends every session, this one included.
  const bearer = expect(await client.call('POST', '/api/auth/token', { body: { username: 'admin', password: newPassword } }), 'login').json.accessToken as string;
  const setup = expect(await client.call('POST', '/api/me/mfa/totp/setup', { bearer, body: {} }), 'TOTP setup');
  const code = totpCodeForStep(setup.json.manualEntryKey as string, totpStepAt(Date.now()));
  const confirmed = expect(await client.call('POST', '/api/me/mfa/totp/confirm', { bearer, body: { code } }), 'TOTP confirm');
  const ticket = expect(await client.call('POST', '/api/auth/token', { body: { username: 'admin', password: newPassword } }), 'second login');
  const body = { mfaTicket: ticket.json.mfaTicket as string, code: (confirmed.json.backupCodes as string[])[0] };
  return expect(await client.call('POST', '/api/auth/token/mfa', { body }), 'second factor').json.accessToken as string;
}

export interface ChildListener {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/**
 * Runs `node <args>` (a baseline server in its own process, as the real server
 * is) and waits for it to print `listening port=<n>` on stdout.
 */
export async function startChildListener(args: string[]): Promise<ChildListener> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /^listening port=(\d+)$/m.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`listener exited ${code}: ${out}`)));
  });
  return {
    child,
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}
