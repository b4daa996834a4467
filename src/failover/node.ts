import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { type Db, openDatabase } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { durationMs } from '../duration.ts';
import { ErrorCode, httpOf } from '../errors.ts';
import { announceListening, listen, type RunningServer } from '../http/server.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Tenure } from '../lease/keeper.ts';
import { type LeaseLocation, type LeaseRecord, leaseTimings } from '../lease/lease.ts';
import { ThreadedLeaseKeeper } from '../lease/threaded-keeper.ts';
import { shutDown, stopRequested } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { ReplicaFollower } from '../replication/follower.ts';
import { startReplication } from '../replication/primary.ts';
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
 * How often a standby that has nothing to follow yet (the replica was empty when it started, a
 * primary's first snapshot still uploading) tries again: each try lists the replica, and once
 * that names a generation, spawns a Litestream restore (which fails while the snapshot uploads).
 */
const FIRST_FOLLOW_EVERY_MS = 2_000;

/**
 * What the node is, and what it holds in each state. Only #to changes it, and each state
 * carries exactly what it may use: a standby its restored copy, a primary its database and
 * Litestream, a deposed primary the same until it stops (it never writes again).
 */
type NodeRole =
  | { kind: 'starting' }
  | { kind: 'standby'; copy: StandbyCopy; app: App }
  | { kind: 'promoting'; copy: StandbyCopy | null; app: App | null }
  | { kind: 'primary'; serving: Takeover; app: App }
  | { kind: 'deposed'; serving: Takeover; app: App };

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
  const node = new FencedNode(config, logger, location, primaryUrl ?? null);
  await node.run(await listen(node.handle, config));
}

class FencedNode {
  #state: NodeRole = { kind: 'starting' };
  // One keeper per attempt at being primary: a lapsed lease is taken up again only by regain().
  #keeper!: Tenure;
  #url = '';
  readonly #heartbeat: Heartbeat;
  readonly #promotions: PromotionHistory;
  #holder: LeaseRecord | null = null;
  #stopping = false;
  /** A fresh copy being restored beside the current one, off the standby loop. */
  #refreshing: Promise<void> | null = null;
  /** A standby's DATABASE_PATH, kept at the replica's head for the next promotion. */
  #follower: ReplicaFollower | null = null;
  /** A catch-up of the follower, or its start: either writes DATABASE_PATH, one at a time. */
  #following: Promise<void> | null = null;
  #lastFollowAt = Number.NEGATIVE_INFINITY;
  /** The last catch-up's error, logged once until it changes or following works again. */
  #followError: string | null = null;
  #replicaReachable: { at: string; error: string | null } = { at: new Date().toISOString(), error: null };

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly location: LeaseLocation,
    private readonly primaryUrl: string | null,
  ) {
    this.#heartbeat = new Heartbeat(config.heartbeatIntervalMs);
    this.#promotions = new PromotionHistory(config.heartbeatIntervalMs);
  }

  /**
   * Every request, by the state of the moment. While the primary answers, a standby sends every
   * GraphQL request back (even reads: its copy is behind), so a load balancer that tried it
   * first moves on to the primary. Once the heartbeat misses, it serves reads from its copy
   * until it has promoted.
   */
  readonly handle = (request: IncomingMessage, response: ServerResponse) => {
    const state = this.#state;
    const app = state.kind === 'starting' ? null : state.app;
    if (!app) return refuse(response, 'starting');
    if (state.kind === 'standby' && this.#heartbeat.misses === 0 && request.url?.startsWith('/graphql')) {
      return refuse(response, `standby for ${this.#watched() ?? 'the lease holder'}: ask the primary`);
    }
    app(request, response);
  };

  async run(running: RunningServer): Promise<void> {
    this.#url = running.url;
    this.#keeper = this.#newKeeper();
    const stopped = stopRequested().then((signal) => {
      this.#stopping = true;
      return signal;
    });
    let failure: unknown = null;
    let watching: Promise<void> = Promise.resolve();
    try {
      // serve: take over at once when no one holds the lease, before saying "listening".
      const mayTakeOver =
        !this.primaryUrl && (await this.#keeper.current()) === null && (await this.#keeper.tryAcquire());
      if (!(mayTakeOver && (await this.#promote({ leaseWasFree: true }, true)))) {
        this.#follower = await step({}, this.logger, 'restore the followed database', () =>
          ReplicaFollower.start(this.config, this.logger, this.config.databasePath),
        );
        const copy = await openStandbyCopy(this.config, this.logger, this.#copyPath(0), this.#follower);
        this.#to({ kind: 'standby', copy, app: this.#standbyApp(copy) });
        watching = this.#standBy();
      }
      announceListening(this.logger, running, { role: this.#state.kind });
      const signal = await Promise.race([watching.then(() => stopped), stopped]);
      this.logger.info({ signal }, 'shutting down');
    } catch (error) {
      failure = error;
    }
    this.#stopping = true;
    await watching.catch(() => {});
    await this.#refreshing;
    await this.#following;
    this.#follower?.close();
    await this.#stop(running);
    if (failure) throw failure;
    this.logger.info('stopped');
  }

  /** The only way the node changes what it is. */
  #to(next: NodeRole) {
    if (next.kind !== this.#state.kind) this.logger.debug({ from: this.#state.kind, to: next.kind }, 'node state');
    this.#state = next;
  }

  async #stop(running: RunningServer) {
    const state = this.#state;
    const serving = state.kind === 'primary' || state.kind === 'deposed' ? state.serving : undefined;
    await shutDown(running, serving);
    if (state.kind === 'standby' || state.kind === 'promoting') state.copy?.close();
    // Handed over only now that the last frames are in the replica; a deposed node has none.
    if (state.kind === 'primary' && this.#keeper.whyNotHeld() === null) await this.#keeper.release();
    this.#keeper.stop();
  }

  #newKeeper() {
    return new ThreadedLeaseKeeper({
      location: this.location,
      timings: leaseTimings(this.config),
      logger: this.logger,
      url: this.#url,
    });
  }

  #watched() {
    return this.primaryUrl ?? this.#holder?.url ?? null;
  }

  #copyPath(slot: 0 | 1) {
    return `${this.config.databasePath}.standby${slot === 0 ? '' : '-next'}`;
  }

  #standbyApp(copy: StandbyCopy) {
    const heartbeat = this.#heartbeat;
    return createApp({
      db: copy.db,
      config: this.config,
      logger: this.logger,
      node: standbyNode(() => this.#keeper, {
        primary: () => this.#watched(),
        heartbeat: () => ({
          intervalMs: heartbeat.intervalMs,
          misses: heartbeat.misses,
          missesToPromote: this.config.heartbeatMisses,
          lastError: heartbeat.lastError,
          lastSuccessAt: heartbeat.lastSuccessAt && new Date(heartbeat.lastSuccessAt).toISOString(),
          role: this.#state.kind,
        }),
        copy: () => ({
          ...copy.describe,
          replicaReachable: this.#replicaReachable,
          followed: this.#follower ? { ...this.#follower.describe(), error: this.#followError } : null,
        }),
        promotions: () => this.#promotions.describe(),
      }),
    });
  }

  /**
   * True once this node is the primary; false (standing by again) if the promotion failed.
   * `localMayBeNewest`: see CatchUp (true only for `serve` taking a free lease at start).
   */
  async #promote(why: Record<string, unknown>, localMayBeNewest: boolean): Promise<boolean> {
    const { config, logger } = this;
    const tenure = this.#keeper;
    const before = this.#state.kind === 'standby' ? this.#state : null;
    this.#to({ kind: 'promoting', copy: before?.copy ?? null, app: before?.app ?? null });
    const startedAt = performance.now();
    const timings: Timings = {};
    const promotions = this.#promotions;
    promotions.begin();
    logger.warn(
      { ...why, watched: this.#watched(), term: tenure.term, attempt: promotions.attempts },
      'promoting: this node takes over as primary',
    );
    let takeover: Takeover | null = null;
    try {
      // A follower starting, or catching up, writes DATABASE_PATH: the takeover writes it next.
      const following = this.#following;
      if (following) await step(timings, logger, 'finish following', () => following);
      // The followed file is a few WAL segments from the head (docs/operations.md).
      const catchUp: CatchUp = { localMayBeNewest, follower: this.#follower };
      takeover = await takeOver(config, logger, () => tenure.whyNotHeld(), catchUp, timings);
      const serving = takeover;
      const primaryApp = await step(timings, logger, 'serve as primary', () =>
        createApp({
          db: serving.db,
          config,
          logger,
          node: fencedPrimary(tenure, serving.replication.node, () => promotions.describe()),
        }),
      );
      const lost = tenure.whyNotHeld();
      if (lost) throw new Error(`promotion abandoned: ${lost}`);
      this.#to({ kind: 'primary', serving, app: primaryApp });
      tenure.onLost(() => this.#deposed());
      before?.copy.close();
      // DATABASE_PATH is the primary's now: nothing follows the replica into it any more.
      this.#follower?.close();
      this.#follower = null;
      const tookMs = Math.round(performance.now() - startedAt);
      promotions.promoted({ term: tenure.term, at: new Date().toISOString(), durationMs: tookMs, steps: timings });
      logger.info({ totalMs: tookMs, steps: timings, term: tenure.term }, 'promoted: this node is the primary');
      return true;
    } catch (error) {
      // Nothing half-done may write: the lease goes back for a node (or a later try) that can
      // take over cleanly, and this node stands by again.
      const message = (error as Error).message;
      takeover?.db.$client.close();
      await takeover?.replication.stop();
      // Migrated, or replicated as a generation of its own: the followed file is no longer the replica's.
      this.#follower?.markTouched();
      await tenure.release().catch(() => {});
      const holderNow = await tenure.current().catch(() => null);
      tenure.stop();
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
      this.#keeper = this.#newKeeper();
      this.#to(before ?? { kind: 'starting' });
      return false;
    }
  }

  /**
   * The lease lapsed under a primary: Litestream must not ship another frame nor start a
   * generation of its own. A lapse (a renewal too late) is taken back as soon as the lease is
   * free and nobody held it since; once another node holds it, this node stays deposed.
   */
  #deposed() {
    const state = this.#state;
    if (state.kind !== 'primary') return;
    this.#to({ kind: 'deposed', serving: state.serving, app: state.app });
    void this.#regain(state.serving, state.serving.replication.stop());
  }

  async #regain(lapsed: Takeover, replicationStopped: Promise<void>) {
    const { config, logger } = this;
    const tenure = this.#keeper;
    await replicationStopped.catch((error: Error) =>
      logger.warn({ error: error.message }, 'Litestream did not stop cleanly after the lease lapsed'),
    );
    while (!this.#stopping && this.#state.kind === 'deposed') {
      // Unreachable store: undefined, ask again. Still ours by the store's clock: wait it out.
      const holder = await tenure.current().catch(() => undefined);
      const regained = holder === null ? await tenure.regain().catch(() => undefined) : undefined;
      if (regained) break;
      if (regained === false || (holder && holder.holder !== tenure.holder)) {
        logger.warn({ holder: holder ?? 'another node, since' }, 'lease taken by another node: staying deposed');
        return;
      }
      await sleep(LEASE_POLL_MS);
    }
    if (this.#stopping || this.#state.kind !== 'deposed') return;
    try {
      const replication = await startReplication(config, logger);
      const serving: Takeover = { db: lapsed.db, replication };
      const app = createApp({
        db: serving.db,
        config,
        logger,
        node: fencedPrimary(tenure, replication.node, () => this.#promotions.describe()),
      });
      this.#to({ kind: 'primary', serving, app });
      // Lost again while Litestream started: the same way down.
      if (tenure.whyNotHeld()) this.#deposed();
      else logger.info({ term: tenure.term }, 'primary again after a lease lapse');
    } catch (error) {
      logger.error({ error: (error as Error).message }, 'regained the lease but cannot replicate: giving it up');
      await tenure.release().catch(() => {});
    }
  }

  async #standBy() {
    const { config, logger } = this;
    let lastReplicaCheck = performance.now();
    /** When this standby first found the primary gone (or the lease free). */
    let suspectSince: number | null = null;
    let lastProbeAt = Number.NEGATIVE_INFINITY;
    // Litestream ships a segment per sync interval: following more often finds nothing new.
    const followEveryMs = durationMs(config.replicaSyncInterval);
    while (!this.#stopping) {
      const tickStartedAt = performance.now();
      this.#holder = await this.#keeper.current().catch((error: Error) => {
        logger.warn({ lease: this.#keeper.location, error: error.message }, 'lease store unreachable');
        return this.#holder;
      });
      const target = this.#watched();
      // Once on the lease's trail, polled every LEASE_POLL_MS, the primary is still probed only
      // once per interval: a frozen one holds each probe for a whole interval.
      if (target && performance.now() - lastProbeAt >= config.heartbeatIntervalMs) {
        lastProbeAt = performance.now();
        await this.#heartbeat.probe(target);
      }
      const primaryGone = target !== null && this.#heartbeat.misses >= config.heartbeatMisses;
      if ((this.#holder === null || primaryGone) && this.#promotions.mayAttempt(performance.now())) {
        suspectSince ??= performance.now();
        const acquired = await this.#keeper.tryAcquire().catch((error: Error) => {
          logger.warn({ error: error.message }, 'could not take the lease');
          return false;
        });
        if (acquired) {
          const promoted = await this.#promote(
            {
              misses: this.#heartbeat.misses,
              lastError: this.#heartbeat.lastError,
              waitedForLeaseMs: Math.round(performance.now() - suspectSince),
            },
            false,
          );
          if (promoted) return;
          suspectSince = null;
          continue;
        }
        // While the lease runs out, the dead primary's last segments are applied already.
        this.#followInBackground(followEveryMs);
        await sleep(LEASE_POLL_MS);
        continue;
      }
      suspectSince = null;
      this.#followInBackground(followEveryMs);
      if (performance.now() - lastReplicaCheck > REPLICA_CHECK_EVERY_MS) {
        lastReplicaCheck = performance.now();
        await this.#checkReplica();
      }
      await sleep(Math.max(0, config.heartbeatIntervalMs - (performance.now() - tickStartedAt)));
    }
  }

  /**
   * One catch-up of the followed file at a time, off the standby loop: the heartbeat goes on.
   * A standby with nothing to follow yet starts following once the replica has a generation.
   */
  #followInBackground(everyMs: number) {
    const follower = this.#follower;
    const waitMs = follower ? everyMs : Math.max(everyMs, FIRST_FOLLOW_EVERY_MS);
    if (this.#following || performance.now() - this.#lastFollowAt < waitMs) return;
    this.#lastFollowAt = performance.now();
    this.#following = (follower ? follower.catchUp() : this.#startFollowing())
      .then(
        () => {
          if (this.#followError) this.logger.info('standby follows the replica again');
          this.#followError = null;
        },
        (error: Error) => {
          if (error.message !== this.#followError) {
            this.logger.warn({ error: error.message }, 'standby cannot follow the replica');
          }
          this.#followError = error.message;
        },
      )
      .finally(() => {
        this.#following = null;
      });
  }

  /** The follower, once the replica has a generation; the copy reads are served from is taken of it. */
  async #startFollowing() {
    const follower = await ReplicaFollower.start(this.config, this.logger, this.config.databasePath);
    if (!follower) return;
    this.#follower = follower;
    this.logger.info(follower.describe(), 'standby follows the replica from now on');
    const state = this.#state;
    if (state.kind === 'standby' && !this.#refreshing) this.#refreshInBackground(state.copy);
  }

  #refreshInBackground(stale: StandbyCopy) {
    this.#refreshing = this.#refreshCopy(stale).finally(() => {
      this.#refreshing = null;
    });
  }

  /**
   * Whether the replica answers, and whether its newest generation is the one the copy that
   * reads are served from was taken of. A copy of an older generation (a failover since the
   * standby started) is taken again in the background, so the heartbeat goes on meanwhile.
   */
  async #checkReplica() {
    const listed = await listGenerations(this.config).then(
      (generations) => ({ newest: generations.at(-1)?.generation ?? null, error: null }),
      (error: Error) => ({ newest: null, error: error.message }),
    );
    this.#replicaReachable = { at: new Date().toISOString(), error: listed.error };
    if (listed.error) this.logger.warn({ error: listed.error }, 'standby cannot read the replica');
    const state = this.#state;
    // A follower still on the older generation (or none yet) restores soon, and the copy is taken of it then.
    const followerBehind = this.#follower?.generation !== listed.newest;
    if (
      listed.newest &&
      state.kind === 'standby' &&
      listed.newest !== state.copy.generation &&
      !followerBehind &&
      !this.#refreshing
    ) {
      this.#refreshInBackground(state.copy);
    }
  }

  async #refreshCopy(stale: StandbyCopy) {
    const path = stale.path === this.#copyPath(0) ? this.#copyPath(1) : this.#copyPath(0);
    const fresh = await openStandbyCopy(this.config, this.logger, path, this.#follower).catch((error: Error) => {
      this.logger.warn({ error: error.message }, 'could not refresh the standby copy');
      return null;
    });
    if (!fresh) return;
    // Promoted (or stopping) meanwhile: the fresh copy is of no use any more.
    const state = this.#state;
    if (state.kind !== 'standby' || this.#stopping || state.copy !== stale) return fresh.close();
    this.#to({ kind: 'standby', copy: fresh, app: this.#standbyApp(fresh) });
    stale.close();
  }
}

interface StandbyCopy {
  db: Db;
  path: string;
  /** The generation it was restored from; null for an empty copy (the replica had none). */
  generation: string | null;
  describe: Record<string, unknown>;
  close(): void;
}

/**
 * What a standby reads from: a copy of the followed DATABASE_PATH beside it (which nothing else
 * may open), else the replica's newest generation restored there, or an empty database when
 * the replica has nothing yet. The copy is migrated; the followed file must stay the replica's.
 */
async function openStandbyCopy(
  config: Config,
  logger: Logger,
  path: string,
  follower: ReplicaFollower | null,
): Promise<StandbyCopy> {
  const timings: Timings = {};
  const restored = await step(timings, logger, 'standby copy', async () => {
    if (follower) {
      await follower.copyTo(path);
      return { generation: follower.generation, snapshot: follower.snapshot };
    }
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
