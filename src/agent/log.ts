import { systemClock, type Clock } from '../lib/clock.js';

/** The agent's log: one line per event. Callers never pass secrets (keys, tokens, plaintext). */
export interface AgentLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { info: 1, warn: 2, error: 3, silent: 4 };

/** JSON lines (time, level, msg, fields) to a writer, stderr by default. */
export function lineLog(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(`${line}\n`), clock: Clock = systemClock): AgentLog {
  const emit = (at: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[at] < RANK[level]) return;
    write(JSON.stringify({ time: new Date(clock.nowMs()).toISOString(), level: at, msg, ...fields }));
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLog: AgentLog = { info() {}, warn() {}, error() {} };
