import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerProcess, startServerProcess } from '../harness/server-process.ts';

/** The servers a run compares, each a process of its own over the same database file. */
export type ServerKind = 'service' | 'service+cache' | 'service+ordinary' | 'limit' | 'limit+statement' | 'apollo';

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
  // LIMIT_PAGE=statement: the page query in one statement; the other scenarios are the limit's.
  'limit+statement': ['--import', 'tsx', join('bench', 'servers', 'limit.ts')],
  apollo: ['--import', 'tsx', join('bench', 'servers', 'apollo.ts')],
};

export async function startServer(kind: ServerKind, options: ServerOptions): Promise<ServerProcess> {
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
    ...(kind === 'limit+statement' && { LIMIT_PAGE: 'statement' }),
    ...options.env,
  };
  const flags = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const server = await startServerProcess({
    name: kind,
    command: ENTRIES[kind],
    env,
    nodeFlags: flags,
    forceAfterMs: 15_000,
  });
  const workers = Number(env.WORKERS);
  if (kind.startsWith('service') && workers > 1) await untilEveryReaderServes(server, workers - 1);
  return server;
}

/** How long a host's read workers may take to start after its writer listens. */
const READERS_TIMEOUT_MS = 30_000;

/**
 * The service logs `listening` when its writer listens, before its read workers do; node:cluster
 * hands a connection only to a process that listens, so a load started then would land on the
 * writer alone. Waits until /ready lists every read worker as answering.
 */
async function untilEveryReaderServes(server: ServerProcess, readers: number): Promise<void> {
  const deadline = Date.now() + READERS_TIMEOUT_MS;
  for (;;) {
    const answer = await fetch(`${server.url}/ready`).catch(() => null);
    const body = (await answer?.json().catch(() => null)) as {
      processes?: { role: string; requestsServed: number | null }[];
    } | null;
    const up = body?.processes?.filter((entry) => entry.role === 'reader' && entry.requestsServed !== null) ?? [];
    if (up.length >= readers) return;
    if (Date.now() > deadline)
      throw new Error(`${server.name}: ${up.length} of ${readers} read workers up after ${READERS_TIMEOUT_MS} ms`);
    await sleep(100);
  }
}
