import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { readWorkersOfHost } from '../cluster/writer-state.ts';
import type { Config } from '../config.ts';
import { durationMs } from '../duration.ts';
import { announceListening, listen, type RunningServer } from '../http/server.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Tenure } from '../lease/keeper.ts';
import { type LeaseLocation, type LeaseRecord, leaseTimings } from '../lease/lease.ts';
import { ThreadedLeaseKeeper } from '../lease/threaded-keeper.ts';
import { shutDown, stopRequested } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { ReplicaFollower } from '../replication/follower.ts';
import { startReplication } from '../replication/primary.ts';
import { listGenerations } from '../replication/restore.ts';
import { FollowedReads } from './followed-reads.ts';
import { asClient, NodeForwarding, readOnly, refuseForged } from './forwarding.ts';
import { Heartbeat } from './heartbeat.ts';
import { PrimaryPositions } from './positions.ts';
import { PromotionHistory } from './promotions.ts';
import { fencedPrimary, standbyNode } from './roles.ts';
import { answerOnStandby, classify, pathOf, tooLarge } from './standby-reads.ts';
import { checkTransition } from './states.ts';
import { type CatchUp, step, type Takeover, type Timings, takeOver } from './takeover.ts';

export interface FencedNodeOptions {
  /** `standby --primary URL`. Absent for `serve`, which watches whoever holds the lease. */
  primaryUrl?: string;
}

/** While the primary is missing but its lease still runs, how often to try for the lease. */
const LEASE_POLL_MS = 50;
/** How often a standby checks that the replica still answers (it spawns Litestream: one listing). */
const REPLICA_CHECK_EVERY_MS = 10_000;
/**
 * How often a standby that has nothing to follow yet (the replica was empty when it started, a
 * primary's first snapshot still uploading) tries again: each try lists the replica, and once
 * that names a generation, spawns a Litestream restore (which fails while the snapshot uploads).
 */
const FIRST_FOLLOW_EVERY_MS = 2_000;
/** The shortest wait between two rounds of following: each lists the replica once. */
const MIN_FOLLOW_EVERY_MS = 50;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/**
 * How long a write on a primary just promoted waits for Litestream's first sync to name the
 * generation (one REPLICA_MONITOR_INTERVAL); past it, its answer names no position.
 */
const POSITION_NAMED_WITHIN_MS = 2000;
/** Answered by every node itself, whatever it is: a balancer's probes, the operator's figures. */
const OWN_PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * What the node is, and what it holds in each state. Only #to changes it, and each state
 * carries exactly what it may use: a standby its followed reads, a primary its database and
 * Litestream, a deposed primary the same until it stops (it never writes again).
 */
type NodeRole =
  | { kind: 'starting' }
  | { kind: 'standby'; app: App }
  | { kind: 'promoting'; app: App | null }
  | { kind: 'primary'; serving: Takeover; app: App; positions: PrimaryPositions }
  | { kind: 'deposed'; serving: Takeover; app: App };

/**
 * One node of a fenced group, from start to stop. It listens at once; then, if it may (serve:
 * the lease is free), it becomes primary before it says "listening". Otherwise it stands by:
 * it follows the replica into two files that take turns serving its reads (FollowedReads),
 * forwards writes to the lease holder, and watches the holder's /health. After
 * HEARTBEAT_MISSES misses, or as soon as the lease is free, it promotes: lease first, then the
 * newest data (the last WAL segments applied to DATABASE_PATH), then replication. Every step
 * is logged with its duration. SIGTERM: HTTP, database, Litestream (last frames shipped), and
 * only then the lease is given up, so a standby never restores too early.
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
  readonly #forwarding: NodeForwarding;
  #holder: LeaseRecord | null = null;
  #stopping = false;
  /** A standby's DATABASE_PATH and its twin, kept at the replica's head; null until the replica has a generation. */
  #follower: ReplicaFollower | null = null;
  /** What a standby's reads are served from: one of the two followed files. */
  #reads: FollowedReads | null = null;
  /** A round of following (or its start): either writes the followed files, one at a time. */
  #following: Promise<void> | null = null;
  /** The last round's error, logged once until it changes or following works again. */
  #followError: string | null = null;
  #replicaReachable: { at: string; error: string | null } = { at: new Date().toISOString(), error: null };
  /** The standby's loops (watching, following), awaited on the way out. */
  readonly #loops: Promise<void>[] = [];
  /** Rejects when a loop fails: the node stops, saying why. */
  #fail: ((error: unknown) => void) | null = null;
  readonly #failed = new Promise<never>((_, reject) => {
    this.#fail = reject;
  });

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly location: LeaseLocation,
    private readonly primaryUrl: string | null,
  ) {
    this.#heartbeat = new Heartbeat(config.heartbeatIntervalMs);
    this.#promotions = new PromotionHistory(config.heartbeatIntervalMs);
    this.#forwarding = new NodeForwarding(config.jwtSecret);
  }

  /**
   * Every request, by the state of the moment. A primary answers everything and names each
   * write's position. A standby answers reads from its followed data while it is fresh enough
   * (and, for a read that names a write's position, once it holds that write), and hands
   * anything else to the lease holder.
   */
  readonly handle = (request: IncomingMessage, response: ServerResponse) => {
    const from = this.#forwarding.check(request);
    if (from.kind === 'forged') return refuseForged(response, from.why);
    if (from.kind === 'forwarded') asClient(request, from.address);
    const state = this.#state;
    if (state.kind === 'starting' || !state.app) return readOnly(response, 'starting');
    const app = state.app;
    if (OWN_PATHS.has(pathOf(request))) return app(request, response);
    if (state.kind === 'primary') return this.#asPrimary(request, response, app, state.positions);
    if (state.kind === 'deposed') return app(request, response);
    void this.#asStandby(request, response, app, from.kind === 'forwarded').catch(() => response.destroy());
  };

  /** Writes get their position once they have committed; reads are answered as they come. */
  #asPrimary(request: IncomingMessage, response: ServerResponse, app: App, positions: PrimaryPositions) {
    if (SAFE_METHODS.has(request.method ?? 'GET')) return app(request, response);
    void classify(request, this.config.maxBodyBytes)
      .then(async ({ write, complete }) => {
        if (!complete) return tooLarge(response);
        if (write) {
          // Just promoted: the first writes wait for Litestream's generation, which their answer names.
          await positions.named(POSITION_NAMED_WITHIN_MS);
          positions.stamp(response);
        }
        app(request, response);
      })
      .catch(() => response.destroy());
  }

  #asStandby(request: IncomingMessage, response: ServerResponse, app: App, forwarded: boolean) {
    const rules = {
      maxBodyBytes: this.config.maxBodyBytes,
      maxLagMs: this.config.standbyMaxLagMs,
      positionWaitMs: this.#positionWaitMs(),
    };
    return answerOnStandby(request, response, this.#reads, rules, app, (chunks, write) =>
      this.#toPrimary(request, response, chunks, forwarded, write),
    );
  }

  /** Handed to the lease holder, once; 503 READ_ONLY when there is none to hand it to. */
  #toPrimary(request: IncomingMessage, response: ServerResponse, chunks: Buffer[], forwarded: boolean, write: boolean) {
    const url = this.#holder?.url;
    // A request another node forwarded is not passed on again: the lease moved meanwhile.
    if (forwarded || !url || url === this.#url) {
      return readOnly(response, `no primary to hand this request to (${forwarded ? 'forwarded here' : 'failover'})`);
    }
    this.#forwarding.forward(request, response, url, chunks, write);
  }

  /** How long a read naming a write waits for it here before the primary answers it. */
  #positionWaitMs() {
    return Math.min(this.config.standbyMaxLagMs, 2 * durationMs(this.config.replicaSyncInterval));
  }

  async run(running: RunningServer): Promise<void> {
    this.#url = running.url;
    this.#keeper = this.#newKeeper();
    const stopped = stopRequested().then((signal) => {
      this.#stopping = true;
      return signal;
    });
    let failure: unknown = null;
    try {
      // serve: take over at once when no one holds the lease, before saying "listening".
      const mayTakeOver =
        !this.primaryUrl && (await this.#keeper.current()) === null && (await this.#keeper.tryAcquire());
      if (!(mayTakeOver && (await this.#promote({ leaseWasFree: true }, true)))) await this.#becomeStandby();
      announceListening(this.logger, running, { role: this.#state.kind });
      const signal = await Promise.race([stopped, this.#failed]);
      this.logger.info({ signal }, 'shutting down');
    } catch (error) {
      failure = error;
    }
    this.#stopping = true;
    await Promise.all(this.#loops);
    this.#follower?.close();
    await this.#stop(running);
    if (failure) throw failure;
    this.logger.info('stopped');
  }

  /**
   * Follows the replica (restored into DATABASE_PATH, a twin made of it), serves reads from it,
   * and watches the lease holder: at start, and after another node took this one's lease.
   */
  async #becomeStandby() {
    const [databasePath, ...others] = followedPaths(this.config);
    const reads = new FollowedReads(() => this.#follower, followedPaths(this.config), readWorkersOfHost());
    this.#reads = reads;
    // A replica with nothing restorable yet (a first snapshot still uploading) is tried again
    // by the rounds of following; meanwhile every request goes to the primary.
    this.#follower = await step({}, this.logger, 'restore the followed database', () =>
      ReplicaFollower.start(this.config, this.logger, databasePath, others).catch((error: Error) => {
        this.#followError = error.message;
        this.logger.warn({ error: error.message }, 'standby cannot follow the replica yet');
        return null;
      }),
    );
    // A first round that fails is tried again by the rounds of following.
    if (this.#follower) await step({}, this.logger, 'serve reads from the followed data', () => this.#followOnce());
    this.#to({ kind: 'standby', app: this.#standbyApp(reads) });
    for (const loop of [this.#standBy(), this.#follow()]) {
      this.#loops.push(loop.catch((error: unknown) => this.#fail?.(error)));
    }
  }

  /** The only way the node changes what it is: by the table of src/failover/states.ts. */
  #to(next: NodeRole) {
    checkTransition(this.#state.kind, next.kind);
    if (next.kind !== this.#state.kind) this.logger.debug({ from: this.#state.kind, to: next.kind }, 'node state');
    this.#state = next;
  }

  /** Whether this node is a primary deposed by its lease: its state says it, nothing else. */
  readonly #isDeposed = () => this.#state.kind === 'deposed';

  async #stop(running: RunningServer) {
    const state = this.#state;
    const serving = state.kind === 'primary' || state.kind === 'deposed' ? state.serving : undefined;
    await shutDown(running, serving);
    this.#reads?.close();
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

  /** The node watched: the lease holder, else the --primary this standby was started for. */
  #watched() {
    return this.#holder?.url ?? this.primaryUrl;
  }

  #standbyApp(reads: FollowedReads) {
    const heartbeat = this.#heartbeat;
    return createApp({
      db: reads.db,
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
        reads: () => {
          const lagMs = reads.lagMs();
          return {
            ...reads.describe(),
            maxLagMs: this.config.standbyMaxLagMs,
            answeredHere: lagMs !== null && lagMs <= this.config.standbyMaxLagMs,
            replicaReachable: this.#replicaReachable,
            followed: this.#follower ? { ...this.#follower.describe(), error: this.#followError } : null,
          };
        },
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
    this.#to({ kind: 'promoting', app: before?.app ?? null });
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
      // A round of following writes the followed files: the takeover writes DATABASE_PATH next.
      const following = this.#following;
      if (following) await step(timings, logger, 'finish following', () => following);
      // Reads go on from the other followed file while DATABASE_PATH becomes the primary's.
      const reads = this.#reads;
      if (reads)
        await step(timings, logger, 'serve reads from the other file', () => reads.release(config.databasePath));
      // The followed file is a few WAL segments from the head (docs/operations.md).
      const catchUp: CatchUp = { localMayBeNewest, follower: this.#follower };
      takeover = await takeOver(config, logger, () => tenure.whyNotHeld(), catchUp, timings);
      const serving = takeover;
      const primaryApp = await step(timings, logger, 'serve as primary', () =>
        createApp({
          db: serving.db,
          config,
          logger,
          node: fencedPrimary(tenure, serving.replication.node, this.#isDeposed, () => promotions.describe()),
        }),
      );
      const lost = tenure.whyNotHeld();
      if (lost) throw new Error(`promotion abandoned: ${lost}`);
      this.#to({ kind: 'primary', serving, app: primaryApp, positions: new PrimaryPositions(config.databasePath) });
      tenure.onLost(() => this.#deposed());
      // DATABASE_PATH is the primary's now: nothing follows the replica into it any more.
      this.#reads?.close();
      this.#reads = null;
      this.#follower?.close();
      if (this.#follower) void removeFile(followedPaths(config)[1]);
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
    this.#regain(state.serving, state.serving.replication.stop()).catch((error: unknown) => this.#fail?.(error));
  }

  /**
   * Another node holds the lease this one lost: this node becomes its standby, its file
   * restored from the replica (what it wrote that was not shipped is the new primary's loss to
   * tell, not this node's to keep), and serves reads again.
   */
  async #followAnother(lapsed: Takeover) {
    if (this.#stopping) return;
    this.#to({ kind: 'starting' });
    lapsed.db.$client.close();
    this.#keeper.stop();
    this.#keeper = this.#newKeeper();
    await this.#becomeStandby();
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
        logger.warn({ holder: holder ?? 'another node, since' }, 'lease taken by another node: following it');
        return this.#followAnother(lapsed);
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
        node: fencedPrimary(tenure, replication.node, this.#isDeposed, () => this.#promotions.describe()),
      });
      this.#to({ kind: 'primary', serving, app, positions: new PrimaryPositions(config.databasePath) });
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
        await sleep(LEASE_POLL_MS);
        continue;
      }
      suspectSince = null;
      if (performance.now() - lastReplicaCheck > REPLICA_CHECK_EVERY_MS) {
        lastReplicaCheck = performance.now();
        await this.#checkReplica();
      }
      await sleep(Math.max(0, config.heartbeatIntervalMs - (performance.now() - tickStartedAt)));
    }
  }

  /**
   * A standby's rounds of following, off the standby loop (the heartbeat goes on): each brings
   * the followed file not served to the replica's head and serves it. Litestream ships a segment
   * per sync interval; a round every half of one keeps the served data within about one
   * interval of the replica. A standby with nothing to follow yet starts following once the
   * replica has a generation. Ends once the node is primary (or stopping).
   */
  async #follow() {
    const everyMs = Math.max(MIN_FOLLOW_EVERY_MS, durationMs(this.config.replicaSyncInterval) / 2);
    while (!this.#stopping && (this.#state.kind === 'standby' || this.#state.kind === 'promoting')) {
      const startedAt = performance.now();
      if (this.#state.kind === 'standby') {
        this.#following = this.#followOnce();
        await this.#following;
        this.#following = null;
      }
      const waitMs = this.#follower ? everyMs : Math.max(everyMs, FIRST_FOLLOW_EVERY_MS);
      await sleep(Math.max(0, waitMs - (performance.now() - startedAt)));
    }
  }

  #followOnce(): Promise<void> {
    const reads = this.#reads;
    if (!reads) return Promise.resolve();
    return (this.#follower ? reads.refresh() : this.#startFollowing(reads)).then(
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
    );
  }

  /** The follower, once the replica has a generation; reads are served from it at once. */
  async #startFollowing(reads: FollowedReads) {
    const [databasePath, ...others] = followedPaths(this.config);
    const follower = await ReplicaFollower.start(this.config, this.logger, databasePath, others);
    if (!follower) return;
    this.#follower = follower;
    this.logger.info(follower.describe(), 'standby follows the replica from now on');
    await reads.refresh();
  }

  /** Whether the replica answers, for /ready. */
  async #checkReplica() {
    const listed = await listGenerations(this.config).then(
      () => null,
      (error: Error) => error.message,
    );
    this.#replicaReachable = { at: new Date().toISOString(), error: listed };
    if (listed) this.logger.warn({ error: listed }, 'standby cannot read the replica');
  }
}

/** DATABASE_PATH (which a promotion takes over) and its twin: the two files a standby follows. */
function followedPaths(config: Config): [string, string] {
  return [config.databasePath, `${config.databasePath}.standby`];
}

/** Unlinking a file of GBs takes a while: not on the event loop, just after a promotion. */
async function removeFile(path: string) {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) await rm(file, { force: true }).catch(() => {});
}
