import { spawn } from 'node:child_process';
import type { Clock } from '../lib/clock.js';
import { OutputTail } from './output-tail.js';

/** The only environment a command sees: nothing is inherited from the agent. */
export const COMMAND_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
export const KILL_GRACE_MS = 5_000;

export interface ProcessRequest {
  /** An absolute path, executed directly (its shebang picks the interpreter). */
  file: string;
  args: readonly string[];
  cwd: string;
  timeoutMs: number;
  outputLimit: number;
  clock: Clock;
  /** Between SIGTERM and SIGKILL of the group. */
  killGraceMs?: number;
  /** Told the process group id once the child runs (tests look for leftovers with it). */
  onSpawn?: (pgid: number) => void;
}

export interface ProcessOutcome {
  status: 'succeeded' | 'failed' | 'timed_out';
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  finishedAt: number;
  tail: Buffer;
  outputBytes: number;
  outputSha256: string;
}

/**
 * Runs one command: argv only (no shell), a scrubbed environment, stdin from
 * /dev/null, in its own process group. The group is what gets killed, so
 * children the command forked die with it: on timeout (SIGTERM, then SIGKILL
 * after the grace), and when the command itself exits while children it left
 * behind still run. stdout and stderr are combined into one bounded tail.
 */
export function runProcess(req: ProcessRequest): Promise<ProcessOutcome> {
  const { clock } = req;
  const grace = req.killGraceMs ?? KILL_GRACE_MS;
  const output = new OutputTail(req.outputLimit);
  const startedAt = clock.nowMs();
  return new Promise((resolve) => {
    const child = spawn(req.file, [...req.args], {
      cwd: req.cwd,
      env: { PATH: COMMAND_PATH, LANG: 'C.UTF-8', HOME: req.cwd },
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let timedOut = false;
    let exit: { code: number | null; signal: string | null } | null = null;
    let escalation: NodeJS.Timeout | undefined;

    const killGroup = (signal: NodeJS.Signals): boolean => {
      if (child.pid === undefined) return false;
      try {
        process.kill(-child.pid, signal);
        return true;
      } catch {
        return false; // ESRCH: nothing of the group is left
      }
    };
    const terminateGroup = () => {
      if (!killGroup('SIGTERM')) return;
      escalation ??= setTimeout(() => killGroup('SIGKILL'), grace);
    };

    const timer = setTimeout(() => {
      timedOut = true;
      terminateGroup();
    }, req.timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => output.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.write(chunk));
    child.once('spawn', () => {
      if (child.pid !== undefined) req.onSpawn?.(child.pid);
    });
    // Only a failure to start lands here (ENOENT, EACCES: no exec bit); it becomes the output.
    child.once('error', (err) => {
      output.write(Buffer.from(`cannot execute ${req.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}\n`));
    });
    // The leader is gone; whatever it left in its group goes too, and 'close'
    // (all output read) follows once the last holder of the pipes is dead.
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      terminateGroup();
    });
    child.once('close', () => {
      clearTimeout(timer);
      // Children may have closed their pipes without dying; make sure.
      killGroup('SIGKILL');
      clearTimeout(escalation);
      const { tail, totalBytes, sha256 } = output.finish();
      const code = exit?.code ?? null;
      resolve({
        status: timedOut ? 'timed_out' : code === 0 ? 'succeeded' : 'failed',
        exitCode: code,
        signal: exit?.signal ?? null,
        startedAt,
        finishedAt: clock.nowMs(),
        tail,
        outputBytes: totalBytes,
        outputSha256: sha256,
      });
    });
  });
}

