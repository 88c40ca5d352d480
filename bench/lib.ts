import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { readFileSync } from 'node:fs';

/** One benchmark figure, printed as the single-line JSON that DESIGN.md §11 asks for. */
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
    env: { PATH: process.env.PATH ?? '', FLOTILLA_LOG_LEVEL: 'warn', ...env },
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
