import { pino, type Logger, type DestinationStream } from 'pino';

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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'flotilla' } }, destination);
}

export type { Logger };
