import { join } from 'node:path';
import { type ServerProcess, startServerProcess } from '../harness/server-process.ts';

/** The servers a run compares, each a process of its own over the same database file. */
export type ServerKind = 'service' | 'service+cache' | 'service+ordinary' | 'limit' | 'apollo';

export interface ServerOptions {
  databasePath: string;
  jwtSecret: string;
  /** Extra environment (replication settings). */
  env?: Record<string, string>;
  /** Where `node --cpu-prof` writes the profile, if profiling. */
  cpuProfileDir?: string;
}

const ENTRIES: Record<ServerKind, string[]> = {
  service: ['bin/reviews-api.js', 'serve'],
  'service+cache': ['bin/reviews-api.js', 'serve'],
  // FAST_READS=off: every query through GraphQL execution, the compiled path's fallback.
  'service+ordinary': ['bin/reviews-api.js', 'serve'],
  limit: ['--import', 'tsx', join('bench', 'servers', 'limit.ts')],
  apollo: ['--import', 'tsx', join('bench', 'servers', 'apollo.ts')],
};

export function startServer(kind: ServerKind, options: ServerOptions): Promise<ServerProcess> {
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_PATH: options.databasePath,
    JWT_SECRET: options.jwtSecret,
    REPLICATION: 'off',
    RATE_LIMIT: 'off',
    RESPONSE_CACHE: kind === 'service+cache' ? 'on' : 'off',
    FAST_READS: kind === 'service+ordinary' ? 'off' : 'on',
    LOG_LEVEL: 'info',
    WORKERS: '1',
    ...options.env,
  };
  const flags = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  return startServerProcess({ name: kind, command: ENTRIES[kind], env, nodeFlags: flags, forceAfterMs: 15_000 });
}
