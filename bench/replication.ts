import { resolve } from 'node:path';
import type { ServerProcess } from '../harness/server-process.ts';
import { ReplicationMonitor } from '../src/replication/monitor.ts';
import { metricsAddress, metricsUrl } from '../src/replication/settings.ts';
import { post } from './equivalence.ts';
import type { Scenario } from './scenarios.ts';
import { startServer } from './servers.ts';

export interface ReplicatedService {
  server: ServerProcess;
  /** Reads the server's Litestream metrics and WAL: when does the replica hold a write? */
  monitor: ReplicationMonitor;
}

/**
 * `reviews-api serve` (or the limit, with the same Litestream beside it) with REPLICATION=on into
 * a directory replica, its Litestream metrics where we can read them.
 */
export async function replicatedServer(
  kind: 'service' | 'limit',
  databasePath: string,
  replicaDir: string,
  syncInterval: string,
  jwtSecret: string,
): Promise<ReplicatedService> {
  const addr = await metricsAddress(undefined);
  const server = await startServer(kind, {
    databasePath,
    jwtSecret,
    env: {
      REPLICATION: 'on',
      REPLICA_URL: replicaDir,
      REPLICA_SYNC_INTERVAL: syncInterval,
      LITESTREAM_METRICS_ADDR: addr,
    },
  });
  return {
    server,
    monitor: new ReplicationMonitor({ metricsUrl: metricsUrl(addr), databasePath: resolve(databasePath) }),
  };
}

const UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A Litestream duration ("500ms", "1s") in milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNITS_MS[match[2] as keyof typeof UNITS_MS];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Replication lag, commit → in the replica: one write at a time, at a random phase of the sync
 * interval, timed from its answer until Litestream reports the replica at or past the WAL's
 * committed end. Resolution: the monitor polls about every 50 ms.
 */
export async function measureReplicationLag(
  { server, monitor }: ReplicatedService,
  addComment: Scenario,
  token: string,
  samples: number,
  syncInterval: string,
) {
  const intervalMs = durationMs(syncInterval);
  const lags: number[] = [];
  for (let i = 0; i < samples; i++) {
    await new Promise((done) => setTimeout(done, Math.random() * intervalMs));
    const answer = await post(server.graphqlUrl, addComment.body(1_000_000 + i), token);
    const committedAt = performance.now();
    if (answer.status !== 200) throw new Error(`a write for the lag probe failed: ${answer.text}`);
    await monitor.waitUntilReplicated(10 * intervalMs + 10_000);
    lags.push(performance.now() - committedAt);
  }
  lags.sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(lags, 50)),
    p99: Math.round(percentile(lags, 99)),
    max: Math.round(lags.at(-1) ?? Number.NaN),
    samples: lags.length,
  };
}
