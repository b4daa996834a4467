import { createRequire } from 'node:module';
import pino from 'pino';
import type { Config } from './config.ts';

export type Logger = pino.Logger;

/**
 * JSON lines on stdout; the Authorization header never reaches a log line. In development at
 * a terminal the lines go through pino-pretty, when it is installed: it is a devDependency,
 * so a production install (`npm ci --omit=dev`) simply logs JSON.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'env'>, destination?: pino.DestinationStream): Logger {
  const pretty = !destination && config.env === 'development' && process.stdout.isTTY && isInstalled('pino-pretty');
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'reviews-api' },
    redact: ['req.headers.authorization', 'headers.authorization', 'token'],
    serializers: { err: boundedError },
    hooks: {
      // pino makes an Error's whole message the line's `msg`: give it the bounded one instead.
      logMethod(args, method) {
        const [first, ...rest] = args;
        if (first instanceof Error && rest.length === 0)
          return method.call(this, { err: first }, boundedText(first.message));
        return method.apply(this, args);
      },
    },
    ...(pretty && { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname,service' } } }),
  };
  // A destination: where tests read the lines the service would print.
  return destination ? pino(options, destination) : pino(options);
}

function isInstalled(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The longest text a logged error keeps per field. A failed statement's message carries its SQL
 * and every parameter: 33,000 ids made one log line of megabytes (and a heap to match).
 */
const MAX_LOGGED_TEXT = 2000;
const MAX_LOGGED_DEPTH = 3;

/** pino's error serializer, with every string cut to MAX_LOGGED_TEXT and nesting bounded. */
function boundedError(error: Error): unknown {
  return bounded(pino.stdSerializers.err(error), 0);
}

function boundedText(text: string): string {
  return text.length > MAX_LOGGED_TEXT ? `${text.slice(0, MAX_LOGGED_TEXT)}… (${text.length} chars)` : text;
}

function bounded(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return boundedText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_LOGGED_DEPTH) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 20).map((item) => bounded(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, bounded(inner, depth + 1)]));
}
