import { pino, type Logger, type DestinationStream } from 'pino';
import { readableLogStream } from './log-format.js';

/**
 * Credentials can ride in headers and bodies; pino removes these paths before
 * a line is written, whatever a caller passes in.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.secret',
];

/**
 * JSON lines for log collectors; a person at a terminal gets readable lines
 * instead (the same fields, redacted the same way).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const out = destination ?? (process.stdout.isTTY ? readableLogStream(process.stdout) : undefined);
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'flotilla' } }, out);
}

export type { Logger };
