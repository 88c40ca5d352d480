import type { AgentLog } from '../../src/agent/log.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

/** An AgentLog that keeps every line, to assert on what the agent said (and never said). */
export function recordingLog(): AgentLog & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
  };
}
