import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import { isS3Url } from '../replica-url.ts';

/** The documented Litestream configuration: its ${VAR}s are filled by litestreamEnvironment(). */
export const LITESTREAM_CONFIG_PATH = fileURLToPath(new URL('../../litestream.yml', import.meta.url));

export type ReplicationSettings = Pick<
  Config,
  | 'databasePath'
  | 'replicaUrl'
  | 'replicaEndpoint'
  | 'replicaSyncInterval'
  | 'replicaMonitorInterval'
  | 'replicaSnapshotInterval'
  | 'replicaRetention'
>;

export type ReplicaTarget = { kind: 'directory'; path: string } | { kind: 's3'; url: string; endpoint: string | null };

/** REPLICA_URL read as what it names: a directory (made absolute) or an S3 location. */
export function replicaTarget({ replicaUrl, replicaEndpoint }: Pick<Config, 'replicaUrl' | 'replicaEndpoint'>) {
  const target: ReplicaTarget = isS3Url(replicaUrl)
    ? { kind: 's3', url: replicaUrl, endpoint: replicaEndpoint ?? null }
    : { kind: 'directory', path: resolve(replicaUrl) };
  return target;
}

/** One line for logs, errors and /ready; never includes credentials. */
export function describeReplica(target: ReplicaTarget): string {
  if (target.kind === 'directory') return target.path;
  return target.endpoint ? `${target.url} at ${target.endpoint}` : target.url;
}

/**
 * Litestream's view of a database path: it makes paths absolute the same way, and labels its
 * metrics with the result.
 */
export const litestreamDatabasePath = (databasePath: string) => resolve(databasePath);

/** The environment litestream.yml is expanded from: every variable it names, defaults applied. */
export function litestreamEnvironment(settings: ReplicationSettings, metricsAddr = ''): Record<string, string> {
  const target = replicaTarget(settings);
  return {
    DATABASE_PATH: litestreamDatabasePath(settings.databasePath),
    REPLICA_DIR: target.kind === 'directory' ? target.path : '',
    REPLICA_S3_URL: target.kind === 's3' ? target.url : '',
    REPLICA_ENDPOINT: target.kind === 's3' ? (target.endpoint ?? '') : '',
    REPLICA_SYNC_INTERVAL: settings.replicaSyncInterval,
    REPLICA_MONITOR_INTERVAL: settings.replicaMonitorInterval,
    REPLICA_SNAPSHOT_INTERVAL: settings.replicaSnapshotInterval,
    REPLICA_RETENTION: settings.replicaRetention,
    LITESTREAM_METRICS_ADDR: metricsAddr,
  };
}

/**
 * LITESTREAM_METRICS_ADDR, or a free loopback port: Litestream would log `:0` without saying
 * which port it got, and a fixed default could collide with another exporter on the host.
 */
export async function metricsAddress(configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const address = probe.address();
  await new Promise<void>((done) => probe.close(() => done()));
  if (!address || typeof address === 'string') throw new Error('could not find a free port for Litestream metrics');
  return `127.0.0.1:${address.port}`;
}

/** The URL Litestream serves Prometheus metrics on, for an `addr:` value. */
export function metricsUrl(addr: string): string {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
  const reachable = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host;
  return `http://${reachable}:${port}/metrics`;
}
