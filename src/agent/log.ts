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

/** A log that also keeps its last `limit` lines in memory, for the diagnostics action. */
export function recentLog(inner: AgentLog, clock: Clock, limit = 100): AgentLog & { recent(): string[] } {
  const lines: string[] = [];
  const keep = (level: string, msg: string, fields?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ time: new Date(clock.nowMs()).toISOString(), level, msg, ...fields }));
    if (lines.length > limit) lines.shift();
  };
  return {
    info: (msg, fields) => (keep('info', msg, fields), inner.info(msg, fields)),
    warn: (msg, fields) => (keep('warn', msg, fields), inner.warn(msg, fields)),
    error: (msg, fields) => (keep('error', msg, fields), inner.error(msg, fields)),
    recent: () => [...lines],
  };
}
