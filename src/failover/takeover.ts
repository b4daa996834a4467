import { existsSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.ts';
import { type Db, openDatabase } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { type LeaseLoss, LeaseLostError } from '../lease/lease.ts';
import type { Logger } from '../logger.ts';
import type { ReplicaFollower } from '../replication/follower.ts';
import { litestreamGeneration, litestreamStateDirectory } from '../replication/on-disk.ts';
import { type Replication, startReplication } from '../replication/primary.ts';
import { listGenerations, NoBackupsError, restoreReplica, takeRestoreMark } from '../replication/restore.ts';

export type Timings = Record<string, number>;

/** Runs one named step, logs it with its duration, and records the duration in `timings`. */
export async function step<T>(timings: Timings, logger: Logger, name: string, work: () => Promise<T> | T): Promise<T> {
  const startedAt = performance.now();
  const result = await work();
  timings[name] = Math.round(performance.now() - startedAt);
  logger.info({ step: name, ms: timings[name] }, `failover step: ${name}`);
  return result;
}

/**
 * Brings DATABASE_PATH to the head of the replica's newest generation, unless it already is
 * that head (this node replicated it last: a planned restart keeps even its unshipped frames).
 * A restored file loses Litestream's old state beside it, so replication starts a new
 * generation instead of appending to one another node may have continued.
 */
export interface CatchUp {
  /**
   * False after standing by for another primary: its generation is newer than anything this
   * node replicated, so the file is restored without listing the generations first.
   */
  localMayBeNewest: boolean;
  /** A standby's follower of DATABASE_PATH: only the WAL shipped since its last catch-up is left to apply. */
  follower?: ReplicaFollower | null;
}

async function catchUpWithReplica(
  config: Config,
  logger: Logger,
  { localMayBeNewest, follower }: CatchUp,
  timings: Timings,
): Promise<void> {
  // A file the operator restored on purpose (reviews-api restore, restore-to-standby.sh) is
  // kept when this node starts as primary: it becomes a new generation. After standing by for
  // another primary, that primary's newer history wins and the mark is dropped.
  if (takeRestoreMark(config.databasePath) && localMayBeNewest && existsSync(config.databasePath)) {
    logger.info(
      { databasePath: config.databasePath },
      'keeping the restored database: it replicates as a new generation',
    );
    rmSync(litestreamStateDirectory(config.databasePath), { recursive: true, force: true });
    return;
  }
  if (follower && (await followToHead(follower, logger, timings))) {
    rmSync(litestreamStateDirectory(config.databasePath), { recursive: true, force: true });
    return;
  }
  const local = localMayBeNewest && existsSync(config.databasePath) ? litestreamGeneration(config.databasePath) : null;
  // Only a file this node replicated itself can be the newest copy; the replica is the truth
  // for any other. (Without a local generation the listing is skipped: restoreReplica lists
  // the generations itself, and a second listing would only add to the failover time.)
  if (local) {
    const generations = await step(timings, logger, 'list generations', () => listGenerations(config));
    if (generations.length === 0 || generations.at(-1)?.generation === local) return;
  }
  try {
    // quick_check, not integrity_check: this is on the recovery-time path, where the full check
    // of a 1 GB database would cost ~20 s to find only an index out of step with its table
    // (docs/operations.md, "Restoring").
    const { phasesMs } = await step(timings, logger, 'restore and integrity check', () =>
      restoreReplica(config, { output: config.databasePath, force: true, check: 'quick', logger }),
    );
    // Its parts, for the drill's report and the figures per database size in docs/operations.md.
    timings['restore: litestream'] = phasesMs.litestream;
    timings['restore: quick_check'] = phasesMs.check;
    timings['restore: fsync'] = phasesMs.fsync;
  } catch (error) {
    if (error instanceof NoBackupsError) return;
    throw error;
  }
  rmSync(litestreamStateDirectory(config.databasePath), { recursive: true, force: true });
}

/**
 * The standby's followed file brought to the replica's head: true once it is there. Should
 * following fail (the replica's WAL unreadable, a segment damaged), a whole restore follows.
 */
async function followToHead(follower: ReplicaFollower, logger: Logger, timings: Timings): Promise<boolean> {
  try {
    const applied = await step(timings, logger, 'apply the new WAL', () => follower.catchUp({ promoting: true }));
    logger.info({ ...follower.describe(), applied }, 'the followed database is at the head of the replica');
    return true;
  } catch (error) {
    logger.warn({ error: (error as Error).message }, 'following the replica failed: restoring the database whole');
    return false;
  }
}

export interface Takeover {
  db: Db;
  replication: Replication;
}

/**
 * The primary's half of a promotion, run with the lease already in hand: the newest data,
 * migrations, then Litestream replicating to the same replica. `leaseLoss` is asked between
 * steps: a takeover that outlived its lease stops before it could replicate.
 */
export async function takeOver(
  config: Config,
  logger: Logger,
  leaseLoss: () => LeaseLoss | null,
  catchUp: CatchUp,
  timings: Timings = {},
): Promise<Takeover> {
  const guard = () => {
    const loss = leaseLoss();
    if (loss) throw new LeaseLostError(loss);
  };
  await catchUpWithReplica(config, logger, catchUp, timings);
  guard();
  const db = await step(timings, logger, 'open and migrate', () => {
    const opened = openDatabase(config.databasePath, { replicating: true });
    applyMigrations(opened);
    return opened;
  });
  try {
    guard();
    const replication = await step(timings, logger, 'start replication', () => startReplication(config, logger));
    return { db, replication };
  } catch (error) {
    db.$client.close();
    throw error;
  }
}
