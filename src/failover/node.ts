import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { type Db, openDatabase } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { ErrorCode, httpOf } from '../errors.ts';
import { announceListening, listen } from '../http/server.ts';
import { type App, createApp } from '../http/yoga.ts';
import { LeaseKeeper } from '../lease/keeper.ts';
import { type LeaseLocation, type LeaseRecord, leaseTimings } from '../lease/lease.ts';
import { openLease } from '../lease/open-lease.ts';
import { shutDown, stopRequested } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import type { Replication } from '../replication/primary.ts';
import { listGenerations, restoreReplica } from '../replication/restore.ts';
import { Heartbeat } from './heartbeat.ts';
import { PromotionHistory } from './promotions.ts';
import { fencedPrimary, standbyNode } from './roles.ts';
import { type CatchUp, step, type Takeover, type Timings, takeOver } from './takeover.ts';

export interface FencedNodeOptions {
  /** `standby --primary URL`. Absent for `serve`, which watches whoever holds the lease. */
  primaryUrl?: string;
}

/** While the primary is missing but its lease still runs, how often to try for the lease. */
const LEASE_POLL_MS = 50;
/**
 * How often a standby checks that the replica still answers and whether it has a newer
 * generation than the standby's copy (it spawns Litestream: one listing).
 */
const REPLICA_CHECK_EVERY_MS = 10_000;

/**
 * One node of a fenced pair, from start to stop. It listens at once; then, if it may (serve:
 * the lease is free), it becomes primary before it says "listening". Otherwise it stands by:
 * reads from a copy restored at start, READ_ONLY for writes, heartbeat on the primary's
 * /health. After HEARTBEAT_MISSES misses, or as soon as the lease is free, it promotes: lease
 * first, then the newest generation (restore + integrity check), then replication. Every
 * step is logged with its duration. SIGTERM: HTTP, database, Litestream (last frames
 * shipped), and only then the lease is given up, so a standby never restores too early.
 */
export async function runFencedNode(
  config: Config,
  logger: Logger,
  location: LeaseLocation,
  { primaryUrl }: FencedNodeOptions,
): Promise<void> {
  const lease = await openLease(location);
  let app: App | null = null;
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    // While the primary answers, a standby sends every GraphQL request back (even reads: its
    // copy is behind), so a load balancer that tried it first moves on to the primary. Once
    // the heartbeat misses, it serves reads from its copy until it has promoted.
    const deferToPrimary = role === 'standby' && heartbeat.misses === 0 && request.url?.startsWith('/graphql');
    if (app && !deferToPrimary) return void app(request, response);
    refuse(response, app ? `standby for ${watched() ?? 'the lease holder'}: ask the primary` : 'starting');
  };
  const running = await listen(handler, config);
  // One keeper per attempt at being primary: a lost lease is never taken up again by it.
  const newKeeper = () => new LeaseKeeper({ lease, timings: leaseTimings(config), logger, url: running.url });
  let keeper = newKeeper();
  const heartbeat = new Heartbeat(config.heartbeatIntervalMs);
  const promotions = new PromotionHistory(config.heartbeatIntervalMs);
  let holder: LeaseRecord | null = null;
  let role: 'standby' | 'promoting' | 'primary' = 'standby';
  let primary: { db: Db; replication: Replication } | null = null;
  let copy: StandbyCopy | null = null;
  /** A fresh copy being restored beside the current one, off the standby loop. */
  let refreshing: Promise<void> | null = null;
  let replicaReachable: { at: string; error: string | null } = { at: new Date().toISOString(), error: null };
  const watched = () => primaryUrl ?? holder?.url ?? null;
  const standbyApp = (standbyCopy: StandbyCopy) =>
    createApp({
      db: standbyCopy.db,
      config,
      logger,
      node: standbyNode(() => keeper, {
        primary: watched,
        heartbeat: () => ({
          intervalMs: heartbeat.intervalMs,
          misses: heartbeat.misses,
          missesToPromote: config.heartbeatMisses,
          lastError: heartbeat.lastError,
          lastSuccessAt: heartbeat.lastSuccessAt && new Date(heartbeat.lastSuccessAt).toISOString(),
          role,
        }),
        copy: () => ({ ...standbyCopy.describe, replicaReachable }),
        promotions: () => promotions.describe(),
      }),
    });

  /** True once this node is the primary; false (standing by again) if the promotion failed. */
  const promote = async (why: Record<string, unknown>, catchUp: CatchUp): Promise<boolean> => {
    const tenure = keeper;
    role = 'promoting';
    const startedAt = performance.now();
    const timings: Timings = {};
    promotions.begin();
    logger.warn(
      { ...why, watched: watched(), term: tenure.term, attempt: promotions.attempts },
      'promoting: this node takes over as primary',
    );
    let takeover: Takeover | null = null;
    try {
      takeover = await takeOver(config, logger, () => tenure.whyNotHeld(), catchUp, timings);
      const { db, replication } = takeover;
      // Deposed later: Litestream must not ship another frame nor start a generation of its own.
      tenure.onLost(() => void replication.stop());
      const primaryApp = await step(timings, logger, 'serve as primary', () =>
        createApp({ db, config, logger, node: fencedPrimary(tenure, replication.node, () => promotions.describe()) }),
      );
      const lost = tenure.whyNotHeld();
      if (lost) throw new Error(`promotion abandoned: ${lost}`);
      app = primaryApp;
      primary = takeover;
      role = 'primary';
      copy?.close();
      const durationMs = Math.round(performance.now() - startedAt);
      promotions.promoted({ term: tenure.term, at: new Date().toISOString(), durationMs, steps: timings });
      logger.info({ totalMs: durationMs, steps: timings, term: tenure.term }, 'promoted: this node is the primary');
      return true;
    } catch (error) {
      // Nothing half-done may write: the lease goes back for a node (or a later try) that can
      // take over cleanly, and this node stands by again.
      const message = (error as Error).message;
      takeover?.db.$client.close();
      await takeover?.replication.stop();
      await tenure.release().catch(() => {});
      tenure.stop();
      const holderNow = await tenure.current().catch(() => null);
      const retryInMs = promotions.failure(
        {
          term: tenure.term,
          at: new Date().toISOString(),
          durationMs: Math.round(performance.now() - startedAt),
          steps: timings,
          error: message,
        },
        { lostToAnother: holderNow !== null && holderNow.holder !== tenure.holder },
      );
      logger.error(
        { error: message, steps: timings, term: tenure.term, attempt: promotions.attempts, retryInMs },
        'promotion failed: standing by again',
      );
      keeper = newKeeper();
      role = 'standby';
      return false;
    }
  };

  let stopping = false;
  const stopped = stopRequested().then((signal) => {
    stopping = true;
    return signal;
  });

  const standBy = async () => {
    let lastReplicaCheck = performance.now();
    /** When this standby first found the primary gone (or the lease free). */
    let suspectSince: number | null = null;
    let lastProbeAt = Number.NEGATIVE_INFINITY;
    while (!stopping) {
      const tickStartedAt = performance.now();
      holder = await keeper.current().catch((error: Error) => {
        logger.warn({ lease: keeper.location, error: error.message }, 'lease store unreachable');
        return holder;
      });
      const target = watched();
      // Once on the lease's trail, polled every LEASE_POLL_MS, the primary is still probed only
      // once per interval: a frozen one holds each probe for a whole interval.
      if (target && performance.now() - lastProbeAt >= config.heartbeatIntervalMs) {
        lastProbeAt = performance.now();
        await heartbeat.probe(target);
      }
      const primaryGone = target !== null && heartbeat.misses >= config.heartbeatMisses;
      if ((holder === null || primaryGone) && promotions.mayAttempt(performance.now())) {
        suspectSince ??= performance.now();
        const acquired = await keeper.tryAcquire().catch((error: Error) => {
          logger.warn({ error: error.message }, 'could not take the lease');
          return false;
        });
        if (acquired) {
          const promoted = await promote(
            {
              misses: heartbeat.misses,
              lastError: heartbeat.lastError,
              waitedForLeaseMs: Math.round(performance.now() - suspectSince),
            },
            // The copy's snapshot passed quick_check at start: a restore from it checks nothing again.
            { localMayBeNewest: false, checkedSnapshot: copy?.checkedSnapshot ?? null },
          );
          if (promoted) return;
          suspectSince = null;
          continue;
        }
        await sleep(LEASE_POLL_MS);
        continue;
      }
      suspectSince = null;
      if (performance.now() - lastReplicaCheck > REPLICA_CHECK_EVERY_MS) {
        lastReplicaCheck = performance.now();
        const listed = await listGenerations(config).then(
          (generations) => ({ newest: generations.at(-1)?.generation ?? null, error: null }),
          (error: Error) => ({ newest: null, error: error.message }),
        );
        replicaReachable = { at: new Date().toISOString(), error: listed.error };
        if (replicaReachable.error) logger.warn({ error: replicaReachable.error }, 'standby cannot read the replica');
        // A copy of an older generation (a failover since the standby started) has a snapshot
        // a promotion would not restore: its check would count for nothing. Restored anew in
        // the background, so the heartbeat goes on meanwhile.
        if (listed.newest && copy && listed.newest !== copy.generation && !refreshing) {
          refreshing = refreshCopy(copy).finally(() => {
            refreshing = null;
          });
        }
      }
      await sleep(Math.max(0, config.heartbeatIntervalMs - (performance.now() - tickStartedAt)));
    }
  };

  const refreshCopy = async (stale: StandbyCopy) => {
    const fresh = await openStandbyCopy(config, logger, stale.path === copyPath(0) ? copyPath(1) : copyPath(0)).catch(
      (error: Error) => {
        logger.warn({ error: error.message }, 'could not refresh the standby copy');
        return null;
      },
    );
    if (!fresh) return;
    // Promoted (or stopping) meanwhile: the fresh copy is of no use any more.
    if (role !== 'standby' || stopping || copy !== stale) return fresh.close();
    copy = fresh;
    app = standbyApp(fresh);
    stale.close();
  };
  const copyPath = (slot: 0 | 1) => `${config.databasePath}.standby${slot === 0 ? '' : '-next'}`;

  let failure: unknown = null;
  let watching: Promise<void> = Promise.resolve();
  try {
    // serve: take over at once when no one holds the lease, before saying "listening".
    const mayTakeOver = !primaryUrl && (await keeper.current()) === null && (await keeper.tryAcquire());
    if (!(mayTakeOver && (await promote({ leaseWasFree: true }, { localMayBeNewest: true })))) {
      copy = await openStandbyCopy(config, logger, copyPath(0));
      app = standbyApp(copy);
      watching = standBy();
    }
    announceListening(logger, running, { role });
    const signal = await Promise.race([watching.then(() => stopped), stopped]);
    logger.info({ signal }, 'shutting down');
  } catch (error) {
    failure = error;
  }
  stopping = true;
  await watching.catch(() => {});
  await refreshing;
  const wasPrimary = primary as { db: Db; replication: Replication } | null;
  await shutDown(running, wasPrimary ?? undefined);
  (copy as StandbyCopy | null)?.close();
  // Handed over only now that the last frames are in the replica.
  if (wasPrimary && keeper.whyNotHeld() === null) await keeper.release();
  keeper.stop();
  await lease.close();
  if (failure) throw failure;
  logger.info('stopped');
}

interface StandbyCopy {
  db: Db;
  path: string;
  /** The generation it was restored from; null for an empty copy (the replica had none). */
  generation: string | null;
  /** The replica snapshot the copy was restored from; its pages passed quick_check. */
  checkedSnapshot: string | null;
  describe: Record<string, unknown>;
  close(): void;
}

/**
 * What a standby reads from: the replica's newest generation restored beside DATABASE_PATH
 * (never over it: that file is what a promotion restores into), or an empty database when
 * the replica has nothing yet.
 */
async function openStandbyCopy(config: Config, logger: Logger, path: string): Promise<StandbyCopy> {
  const timings: Timings = {};
  const restored = await step(timings, logger, 'restore standby copy', async () => {
    if ((await listGenerations(config)).length === 0) return null;
    return restoreReplica(config, { output: path, force: true, logger });
  });
  const db = openDatabase(restored ? path : ':memory:');
  applyMigrations(db);
  let open = true;
  return {
    db,
    path,
    generation: restored?.generation ?? null,
    checkedSnapshot: restored?.snapshot ?? null,
    describe: {
      restoredAt: new Date().toISOString(),
      generation: restored?.generation ?? null,
      snapshot: restored?.snapshot ?? null,
      path: restored && path,
    },
    close() {
      if (!open) return;
      open = false;
      db.$client.close();
      // Unlinking a file of GBs takes a while: not on the event loop, just after a promotion.
      if (restored)
        for (const file of [path, `${path}-wal`, `${path}-shm`]) void rm(file, { force: true }).catch(() => {});
    },
  };
}

/** A READ_ONLY answer without touching GraphQL: 503, so a load balancer tries the next node. */
function refuse(response: ServerResponse, reason: string) {
  const body = JSON.stringify({
    errors: [
      { message: `This node does not accept requests now: ${reason}`, extensions: { code: ErrorCode.READ_ONLY } },
    ],
  });
  const { status, headers } = httpOf(ErrorCode.READ_ONLY);
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
}
