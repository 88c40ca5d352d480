/**
 * Private redis-server and PostgreSQL instances for the test run: each on a
 * free loopback port, in its own temp dir, with a random password, stopped by
 * PID at teardown. Used by global-setup.ts.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface RunningService {
  /** Connection URL, password included (test-only credentials). */
  url: string;
  stop(): Promise<void>;
}

/** A port the OS just handed out on 127.0.0.1; free unless someone races us for it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Full path of an executable on PATH, or null. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** bin dir of the newest Debian-packaged PostgreSQL that has initdb, or null. */
export function findPostgresBinDir(root = '/usr/lib/postgresql'): string | null {
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/** Polls until ready() is true; fails early if the process died, with its log's tail. */
export async function waitUntilReady(what: string, ready: () => Promise<boolean>, opts: { child?: ChildProcess; logFile?: string; timeoutMs?: number }): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (opts.child && opts.child.exitCode !== null) throw new Error(`${what} exited with code ${opts.child.exitCode}${logTail(opts.logFile)}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} was not ready in time${logTail(opts.logFile)}`);
}

function logTail(file: string | undefined): string {
  if (!file || !existsSync(file)) return '';
  return `\n--- ${file} ---\n${readFileSync(file, 'utf8').split('\n').slice(-20).join('\n')}`;
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL if it has not gone after timeoutMs. */
async function stopChild(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  if (!(await waitForExit(child, timeoutMs))) {
    process.kill(child.pid, 'SIGKILL');
    await waitForExit(child, timeoutMs);
  }
}

export interface RedisTlsFiles {
  certFile: string;
  keyFile: string;
  /** PEM the readiness check trusts (the self-signed certificate itself). */
  ca: string;
}

/** AUTH + PING over a raw socket: true once the server answers +PONG. */
function redisAnswers(port: number, password: string, tls?: RedisTlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls ? tlsConnect({ port, host: '127.0.0.1', ca: tls.ca }) : connect(port, '127.0.0.1');
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write(`AUTH ${password}\r\nPING\r\n`));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('+PONG')) finish(true);
      else if (reply.includes('-ERR') || reply.includes('-WRONGPASS')) finish(false);
    });
  });
}

/**
 * redis-server without persistence, password required (so the AUTH path is
 * exercised); with `tls`, it listens only for TLS and the URL is rediss://.
 */
export async function startRedis(redisServer: string, opts: { tls?: RedisTlsFiles } = {}): Promise<RunningService> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-redis-'));
  const port = await freePort();
  const password = randomBytes(18).toString('hex');
  const confFile = join(dir, 'redis.conf');
  const logFile = join(dir, 'redis.log');
  const listen = opts.tls
    ? ['port 0', `tls-port ${port}`, `tls-cert-file ${opts.tls.certFile}`, `tls-key-file ${opts.tls.keyFile}`, 'tls-auth-clients no']
    : [`port ${port}`];
  // A config file rather than --requirepass keeps the password out of `ps`.
  writeFileSync(
    confFile,
    [...listen, 'bind 127.0.0.1', `dir ${dir}`, `save ""`, 'appendonly no', `requirepass ${password}`, `logfile ${logFile}`, 'daemonize no', ''].join('\n'),
    { mode: 0o600 },
  );
  const child = spawn(redisServer, [confFile], { stdio: 'ignore' });
  const killOnExit = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const cleanup = async (): Promise<void> => {
    process.off('exit', killOnExit);
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady('redis-server', () => redisAnswers(port, password, opts.tls), { child, logFile });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { url: `${opts.tls ? 'rediss' : 'redis'}://:${password}@127.0.0.1:${port}/0`, stop: cleanup };
}

function postgresUserIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root, but there is no postgres user to run PostgreSQL as');
  return { uid: Number(uid), gid: Number(gid) };
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * initdb into a temp dir and run `postgres` on a free loopback port. PostgreSQL
 * refuses to run as root, so as root both run as `postgres` through runuser,
 * in a dir that user owns.
 */
export async function startPostgres(binDir: string): Promise<RunningService> {
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUserIds() : undefined;
  const runuser = findOnPath('runuser') ?? '/usr/sbin/runuser';
  const command = (bin: string, args: string[]): [string, string[]] =>
    asRoot ? [runuser, ['-u', 'postgres', '--', join(binDir, bin), ...args]] : [join(binDir, bin), args];

  const dir = mkdtempSync(join(tmpdir(), 'flotilla-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const port = await freePort();
  const password = randomBytes(18).toString('hex');
  const pwFile = join(dir, 'pwfile');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (owner) chownSync(pwFile, owner.uid, owner.gid);

  let child: ChildProcess | undefined;
  const postmasterPid = (): number | null => {
    try {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  // If the runner dies without teardown, do not leave a postmaster behind (SIGQUIT = immediate shutdown).
  const killOnExit = (): void => {
    const pid = postmasterPid();
    if (pid !== null) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  };
  const cleanup = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (child && child.exitCode === null && child.signalCode === null) {
      const [cmd, args] = command('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30']);
      try {
        await execFileAsync(cmd, args);
      } catch {
        killOnExit();
      }
      if (!(await waitForExit(child, 10_000))) await stopChild(child);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [initCmd, initArgs] = command('initdb', [
      '-D', dataDir, '-U', 'postgres', `--pwfile=${pwFile}`,
      '--auth-host=scram-sha-256', '--auth-local=trust',
      '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions',
    ]);
    await execFileAsync(initCmd, initArgs).catch((err: Error & { stderr?: string }) => {
      throw new Error(`initdb failed: ${err.stderr?.trim() || err.message}`);
    });
    rmSync(pwFile);

    const logFd = openSync(logFile, 'a', 0o600);
    const [pgCmd, pgArgs] = command('postgres', [
      '-D', dataDir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
      '-c', 'max_connections=300',
      // Test data is disposable: trade durability for speed.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ]);
    child = spawn(pgCmd, pgArgs, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    process.once('exit', killOnExit);
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    await waitUntilReady('postgres', () => postgresAnswers(url), { child, logFile });
    return { url, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
