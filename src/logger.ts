import { createRequire } from 'node:module';
import pino from 'pino';
import type { Config } from './config.ts';

export type Logger = pino.Logger;

/**
 * JSON lines on stdout; the Authorization header never reaches a log line. In development at
 * a terminal the lines go through pino-pretty, when it is installed: it is a devDependency,
 * so a production install (`npm ci --omit=dev`) simply logs JSON.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'env'>): Logger {
  const pretty = config.env === 'development' && process.stdout.isTTY && isInstalled('pino-pretty');
  return pino({
    level: config.logLevel,
    base: { service: 'reviews-api' },
    redact: ['req.headers.authorization', 'headers.authorization', 'token'],
    ...(pretty && { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname,service' } } }),
  });
}

function isInstalled(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}
