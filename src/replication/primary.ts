import type { Config } from '../config.ts';
import type { NodeState } from '../context.ts';
import { durationMs } from '../duration.ts';
import { orphanGraceMs } from '../lease/lease.ts';
import type { Logger } from '../logger.ts';
import { LitestreamSupervisor } from './litestream.ts';
import { ReplicationMonitor } from './monitor.ts';
import { litestreamGeneration } from './on-disk.ts';
import { ReplicaBarrier } from './replica-barrier.ts';
import {
  describeReplica,
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
  /**
   * Stops Litestream after it has shipped every committed WAL frame. Close the database first.
   * `shipFirst` (a planned stop) first lets a Litestream that has not synced yet do so; a
   * deposed primary stops at once.
   */
  stop(options?: { shipFirst?: boolean }): Promise<void>;
}

/** How long a planned stop waits for a Litestream that has not synced yet (a snapshot of GBs). */
const FIRST_SYNC_ON_STOP_MS = 120_000;

/**
 * DURABILITY=local: Litestream serves once its metrics answer, which it does only after it
 * opened the database. Writes from then on are in the WAL it snapshots at its first sync (it
 * holds the checkpoints back), so the node need not wait for that sync: for a new generation
 * it uploads the whole database (7 s at 1 GB). What this costs: until that snapshot is in the
 * replica, the replica's newest generation is the previous primary's, so writes acknowledged
 * in that window are lost if this node dies in it (docs/operations.md, "High availability").
 */
const metricsAnswer = (monitor: ReplicationMonitor) => async () => (await fetch(monitor.metricsUrl)).ok;

/**
 * DURABILITY=replicated answers a write only once it is in the replica, which a new generation
 * is only after its first sync: until then there is nothing to be writable for.
 */
const firstSyncDone = (monitor: ReplicationMonitor) => async () => (await monitor.sample()).syncs > 0;

async function firstSync(monitor: ReplicationMonitor, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await firstSyncDone(monitor)().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Litestream did not sync within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * Runs `litestream replicate` with litestream.yml beside the server and watches it. Resolves
 * once Litestream serves; rejects if it cannot start (bad configuration, no binary).
 */
export async function startReplication(
  config: ReplicationSettings &
    Pick<
      Config,
      | 'litestreamMetricsAddr'
      | 'durability'
      | 'durabilityTimeoutMs'
      | 'durabilityPollMs'
      | 'heartbeatIntervalMs'
      | 'heartbeatMisses'
    >,
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
    isServing: config.durability === 'replicated' ? firstSyncDone(monitor) : metricsAnswer(monitor),
    orphanGraceMs: orphanGraceMs(config),
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
    node: replicatingPrimary(supervisor, monitor, replica, config.databasePath, barrier),
    async stop({ shipFirst = false } = {}) {
      barrier?.stop();
      // A SIGTERM before Litestream's first sync makes it exit without shipping anything.
      if (shipFirst && supervisor.state.status === 'up') {
        await firstSync(monitor, FIRST_SYNC_ON_STOP_MS).catch((error: Error) =>
          logger.warn({ error: error.message }, 'stopping Litestream before its first sync'),
        );
      }
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
  databasePath: string,
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
      // The generation a standby's /ready `copy.followed` must name to be one WAL apply from here.
      const generation = litestreamGeneration(databasePath);
      const replication: Record<string, unknown> = { replica, generation, litestream, metrics: monitor.metricsUrl };
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
