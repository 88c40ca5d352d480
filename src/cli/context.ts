import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

/** Loads configuration the same way for every command: file, environment, flags. */
export function configFrom(opts: GlobalOptions & { host?: string; port?: string }): Promise<Config> {
  return loadConfig({
    configFile: opts.config ?? process.env.FLOTILLA_CONFIG,
    env: process.env,
    overrides: {
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      server: {
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.port !== undefined ? { port: parsePort(opts.port) } : {}),
      },
    },
  });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) throw new CliError(`--port: expected an integer 0-65535, got "${value.slice(0, 20)}"`);
  return port;
}

/** An error whose message is meant for the person at the terminal. */
export class CliError extends Error {}

/** Reads a password from standard input (first line), so it never sits in shell history or ps. */
export function readPasswordFromStdin(): string {
  const text = readFileSync(0, 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line.length === 0) throw new CliError('no password on standard input');
  return line;
}
