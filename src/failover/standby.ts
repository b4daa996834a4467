import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { durationMs } from '../duration.ts';
import type { Host } from '../host/host.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Tenure } from '../lease/keeper.ts';
import type { Logger } from '../logger.ts';
import { ReplicaFollower } from '../replication/follower.ts';
import { listGenerations } from '../replication/restore.ts';
import { FollowedReads } from './followed-reads.ts';
import { type StandbyView, standbyNode } from './roles.ts';
import { followedDataConfig } from './standby-reads.ts';
import { step, type Timings } from './takeover.ts';

/**
 * How often a standby that has nothing to follow yet (the replica was empty when it started, a
 * primary's first snapshot still uploading) tries again: each try lists the replica, and once
 * that names a generation, spawns a Litestream restore (which fails while the snapshot uploads).
 */
const FIRST_FOLLOW_EVERY_MS = 2_000;
/** The shortest wait between two rounds of following: each lists the replica once. */
const MIN_FOLLOW_EVERY_MS = 50;

/** What the node tells its standby's /ready, and how a loop of the standby reports a failure. */
export interface StandbyWatch extends Omit<StandbyView, 'reads'> {
  /** The keeper of the node's lease now (a new one after each failed promotion). */
  keeper: () => Tenure;
  /** A loop failed (a bug, not a replica that does not answer): the node stops, saying why. */
  fail: (error: unknown) => void;
}

/**
 * A standby, from its first restore to its close: it owns the follower of the replica, the two
 * followed files (FollowedReads) its reads are served from, and the app that serves them. Its
 * rounds of following run on their own loop until it closes; a promotion pauses them
 * (`pause`), and either takes DATABASE_PATH over (`handOver`) or gives it back (`resume`).
 */
export class Standby {
  readonly app: App;
  readonly reads: FollowedReads;
  /** A standby's DATABASE_PATH and its twin, kept at the replica's head; null until the replica has a generation. */
  #follower: ReplicaFollower | null = null;
  /** A round of following (or its start): either writes the followed files, one at a time. */
  #following: Promise<void> | null = null;
  /** The last round's error, logged once until it changes or following works again. */
  #followError: string | null = null;
  #replicaReachable: { at: string; error: string | null } = { at: new Date().toISOString(), error: null };
  /** Paused by a promotion under way: no new round writes the followed files. */
  #promoting = false;
  #closed = false;

  private constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    watch: StandbyWatch,
    host: Host,
  ) {
    this.reads = new FollowedReads(() => this.#follower, followedPaths(config), host.fileSharers);
    this.app = createApp({
      db: this.reads.db,
      config: followedDataConfig(config),
      logger,
      host,
      node: standbyNode(watch.keeper, { ...watch, reads: () => this.#describeReads() }),
    });
  }

  /**
   * Follows the replica (restored into DATABASE_PATH, a twin made of it) and serves reads from
   * it: at start, and after another node took this one's lease. A replica with nothing
   * restorable yet (a first snapshot still uploading) is tried again by the rounds of
   * following; meanwhile every request goes to the primary.
   */
  static async start(config: Config, logger: Logger, watch: StandbyWatch, host: Host): Promise<Standby> {
    const standby = new Standby(config, logger, watch, host);
    const [databasePath, ...others] = followedPaths(config);
    standby.#follower = await step({}, logger, 'restore the followed database', () =>
      ReplicaFollower.start(config, logger, databasePath, others).catch((error: Error) => {
        standby.#followError = error.message;
        logger.warn({ error: error.message }, 'standby cannot follow the replica yet');
        return null;
      }),
    );
    // A first round that fails is tried again by the rounds of following.
    if (standby.#follower) await step({}, logger, 'serve reads from the followed data', () => standby.#followOnce());
    void standby.#follow().catch(watch.fail);
    return standby;
  }

  /** The follower, for a promotion's catch-up: only the WAL shipped since its last round is left to apply. */
  get follower(): ReplicaFollower | null {
    return this.#follower;
  }

  /**
   * Before a promotion writes DATABASE_PATH: the round under way finishes, no other starts,
   * and reads go on from the other followed file.
   */
  async pause(timings: Timings): Promise<void> {
    this.#promoting = true;
    const following = this.#following;
    if (following) await step(timings, this.logger, 'finish following', () => following);
    await step(timings, this.logger, 'serve reads from the other file', () =>
      this.reads.release(this.config.databasePath),
    );
  }

  /** The promotion failed: migrated, or replicated as a generation of its own, the file is made anew. */
  resume(): void {
    this.#follower?.markTouched();
    this.#promoting = false;
  }

  /** The promotion succeeded: DATABASE_PATH is the primary's now, and the twin is not needed. */
  async handOver(): Promise<void> {
    const followed = this.#follower !== null;
    await this.close();
    // Unlinking a file of GBs takes a while: not on the event loop, just after a promotion.
    if (followed) void removeFile(followedPaths(this.config)[1]);
  }

  /** Stops following and serving: the round under way ends, no other starts, the followed files are let go. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#following;
    this.reads.close();
    this.#follower?.close();
    this.#follower = null;
  }

  /** Whether the replica answers, for /ready. */
  async checkReplica() {
    const listed = await listGenerations(this.config).then(
      () => null,
      (error: Error) => error.message,
    );
    this.#replicaReachable = { at: new Date().toISOString(), error: listed };
    if (listed) this.logger.warn({ error: listed }, 'standby cannot read the replica');
  }

  #describeReads() {
    const lagMs = this.reads.lagMs();
    return {
      ...this.reads.describe(),
      maxLagMs: this.config.standbyMaxLagMs,
      answeredHere: lagMs !== null && lagMs <= this.config.standbyMaxLagMs,
      replicaReachable: this.#replicaReachable,
      followed: this.#follower ? { ...this.#follower.describe(), error: this.#followError } : null,
    };
  }

  /**
   * A standby's rounds of following, off the standby loop (the heartbeat goes on): each brings
   * the followed file not served to the replica's head and serves it. Litestream ships a segment
   * per sync interval; a round every half of one keeps the served data within about one
   * interval of the replica. A standby with nothing to follow yet starts following once the
   * replica has a generation. Ends once the standby is closed (promoted, or stopping).
   */
  async #follow() {
    const everyMs = Math.max(MIN_FOLLOW_EVERY_MS, durationMs(this.config.replicaSyncInterval) / 2);
    while (!this.#closed) {
      const startedAt = performance.now();
      if (!this.#promoting) {
        this.#following = this.#followOnce();
        await this.#following;
        this.#following = null;
      }
      const waitMs = this.#follower ? everyMs : Math.max(everyMs, FIRST_FOLLOW_EVERY_MS);
      await sleep(Math.max(0, waitMs - (performance.now() - startedAt)));
    }
  }

  #followOnce(): Promise<void> {
    const reads = this.reads;
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
}

/** DATABASE_PATH (which a promotion takes over) and its twin: the two files a standby follows. */
function followedPaths(config: Config): [string, string] {
  return [config.databasePath, `${config.databasePath}.standby`];
}

async function removeFile(path: string) {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) await rm(file, { force: true }).catch(() => {});
}
