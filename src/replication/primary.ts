import type { Config } from '../config.ts';
import type { NodeState } from '../context.ts';
import { ReplicaBarrier } from '../durability/replica-barrier.ts';
import type { Logger } from '../logger.ts';
import { LitestreamSupervisor } from './litestream.ts';
import { ReplicationMonitor } from './monitor.ts';
import {
  describeReplica,
  durationMs,
  LITESTREAM_CONFIG_PATH,
  litestreamDatabasePath,
  litestreamEnvironment,
  metricsAddress,
  metricsUrl,
  type ReplicationSettings,
  replicaTarget,
} from './settings.ts';

export interface Replication {
  supervisor: LitestreamSupervisor;
  monitor: ReplicationMonitor;
  /** DURABILITY=replicated: what mutations wait on until the replica has their writes. */
  barrier: ReplicaBarrier | null;
  /** The primary's state: it may write only while Litestream replicates. */
  node: NodeState;
  /** Stops Litestream after it has shipped every committed WAL frame. Close the database first. */
  stop(): Promise<void>;
}

/**
 * Runs `litestream replicate` with litestream.yml beside the server and watches it. Resolves
 * once Litestream serves; rejects if it cannot start (bad configuration, no binary).
 */
export async function startReplication(
  config: ReplicationSettings &
    Pick<Config, 'litestreamMetricsAddr' | 'durability' | 'durabilityTimeoutMs' | 'durabilityPollMs'>,
  logger: Logger,
  options: { restartDelayMs?: number } = {},
): Promise<Replication> {
  const addr = await metricsAddress(config.litestreamMetricsAddr);
  const monitor = new ReplicationMonitor({
    metricsUrl: metricsUrl(addr),
    databasePath: litestreamDatabasePath(config.databasePath),
  });
  const supervisor = new LitestreamSupervisor({
    args: ['replicate', '-config', LITESTREAM_CONFIG_PATH],
    env: litestreamEnvironment(config, addr),
    logger,
    logPath: `${litestreamDatabasePath(config.databasePath)}-litestream.log`,
    // Litestream takes hold of the database at its first sync, one monitor interval after it
    // starts; until then a SIGTERM would make it exit without shipping anything.
    isServing: async () => (await monitor.sample()).syncs > 0,
    startTimeoutMs: 30_000 + 2 * durationMs(config.replicaSyncInterval),
    ...options,
  });
  await supervisor.start();
  monitor.start();
  const barrier =
    config.durability === 'replicated'
      ? new ReplicaBarrier({
          databasePath: litestreamDatabasePath(config.databasePath),
          metricsUrl: monitor.metricsUrl,
          pollIntervalMs: config.durabilityPollMs,
          timeoutMs: config.durabilityTimeoutMs,
        })
      : null;
  const replica = describeReplica(replicaTarget(config));
  logger.info(
    { replica, metrics: monitor.metricsUrl, pid: supervisor.state.pid, durability: config.durability },
    'replicating with Litestream',
  );
  return {
    supervisor,
    monitor,
    barrier,
    node: replicatingPrimary(supervisor, monitor, replica, barrier),
    async stop() {
      barrier?.stop();
      monitor.stop();
      await supervisor.stop();
    },
  };
}

/**
 * A primary that writes only while Litestream copies its writes to the replica, and with a
 * barrier (DURABILITY=replicated) confirms each one is there before it is answered.
 */
export function replicatingPrimary(
  supervisor: LitestreamSupervisor,
  monitor: ReplicationMonitor,
  replica: string,
  barrier: ReplicaBarrier | null = null,
): NodeState {
  return {
    ...(barrier && { confirmWrites: () => barrier.waitForCommitted() }),
    whyReadOnly() {
      const { status, reason } = supervisor.state;
      if (status === 'up') return null;
      return `Litestream is ${status}${reason ? ` (${reason})` : ''}, so no write would reach the replica`;
    },
    describe() {
      const { status, pid, restarts, since, reason } = supervisor.state;
      const { sample, error } = monitor.latest();
      const litestream = { status, pid, restarts, since: new Date(since).toISOString(), reason };
      const replication: Record<string, unknown> = { replica, litestream, metrics: monitor.metricsUrl };
      if (sample) {
        const { local, shadow, replica: replicaPosition, ...figures } = sample;
        Object.assign(replication, { position: { local, shadow, replica: replicaPosition }, ...figures });
      }
      if (error) replication.metricsError = error;
      replication.durability = barrier ? barrier.describe() : { mode: 'local' };
      return { role: 'primary', replication };
    },
  };
}
