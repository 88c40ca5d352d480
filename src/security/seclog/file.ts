import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SecurityLogSink {
  write(line: string): void;
  close(): void;
}

/**
 * Appends lines to the security log. Each line is one synchronous write on an
 * O_APPEND descriptor: lines never interleave, fail2ban sees them at once, and
 * a line costs microseconds. The file is 0600 in a 0700 directory. Works with
 * logrotate's copytruncate (O_APPEND writes follow the truncation).
 */
export class SecurityLogFile implements SecurityLogSink {
  private fd: number | null;

  constructor(
    readonly path: string,
    private readonly opts: { stdout?: boolean; onError?: (err: unknown) => void; ownDir?: boolean } = {},
  ) {
    const dir = dirname(path);
    const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Tighten our own logs dir; a configured shared dir (/var/log) is the operator's to set.
    if (created !== undefined || opts.ownDir) chmodSync(dir, 0o700);
    this.fd = openSync(path, 'a', 0o600);
    // The mode of openSync applies only when it creates the file.
    if ((fstatSync(this.fd).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }

  write(line: string): void {
    const text = `${line}\n`;
    try {
      if (this.fd !== null) writeSync(this.fd, text);
      if (this.opts.stdout) process.stdout.write(text);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** When the security log is off, lines go nowhere (stdout still if asked). */
export class NullSecurityLog implements SecurityLogSink {
  constructor(private readonly stdout = false) {}
  write(line: string): void {
    if (this.stdout) process.stdout.write(`${line}\n`);
  }
  close(): void {}
}
