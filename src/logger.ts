import pino from 'pino';
import type { Config } from './config.ts';

export type Logger = pino.Logger;

/** JSON lines on stdout; the Authorization header never reaches a log line. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'reviews-api' },
    redact: ['req.headers.authorization', 'headers.authorization', 'token'],
  });
}
