import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { durationMs } from '../duration.ts';
import type { Host } from '../host/host.ts';
import { readOnly } from '../http/forward.ts';
import { HEALTH_PATH, METRICS_PATH, READY_PATH } from '../http/routes.ts';
import { announceListening, listen } from '../http/server.ts';
import type { Tenure } from '../lease/keeper.ts';
import { describeLoss, type LeaseLocation, LeaseLostError, type LeaseRecord, leaseTimings } from '../lease/lease.ts';
import { ThreadedLeaseKeeper } from '../lease/threaded-keeper.ts';
import { stopRequested } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import type { ReplicaFollower } from '../replication/follower.ts';
import { fenceAnswer } from './fenced-answer.ts';
import type { FollowedReads } from './followed-reads.ts';
import { asClient, NodeForwarding, refuseForged } from './forwarding.ts';
import { Heartbeat } from './heartbeat.ts';
import type { PrimaryPositions } from './positions.ts';
import { Primary, type PrimaryView } from './primary.ts';
import { PromotionHistory } from './promotions.ts';
import { Standby, type StandbyWatch } from './standby.ts';
import { answerOnStandby, classify, pathOf, SAFE_METHODS, tooLarge } from './standby-reads.ts';
import { checkTransition } from './states.ts';
import type { CatchUp, Timings } from './takeover.ts';

export interface FencedNodeOptions {
  /** `standby --primary URL`. Absent for `serve`, which watches whoever holds the lease. */
  primaryUrl?: string;
  /** The host this process runs in, as its start-up chose it (src/cluster/host.ts). */
  host: Host;
}

/** While the primary is missing but its lease still runs, how often to try for the lease. */
const LEASE_POLL_MS = 50;
/** How often a standby checks that the replica still answers (it spawns Litestream: one listing). */
const REPLICA_CHECK_EVERY_MS = 10_000;

/**
 * How long a write on a primary just promoted waits for Litestream's first sync to name the
 * generation (one REPLICA_MONITOR_INTERVAL); past it, its answer names no position.
 */
const POSITION_NAMED_WITHIN_MS = 2000;
/** Answered by every node itself, whatever it is: a balancer's probes, the operator's figures. */
const OWN_PATHS = new Set([HEALTH_PATH, READY_PATH, METRICS_PATH]);

type Handler = (request: IncomingMessage, response: ServerResponse) => unknown;

/** What the node asks of a standby (src/failover/standby.ts; a fake in unit tests). */
export interface StandbyRole {
  readonly app: { handle: Handler };
  readonly reads: Pick<FollowedReads, 'lagMs' | 'waitFor'>;
  readonly follower: ReplicaFollower | null;
  pause(timings: Timings): Promise<void>;
  resume(): void;
  handOver(): Promise<void>;
  close(): Promise<void>;
  checkReplica(): Promise<void>;
}

/** What the node asks of a primary (src/failover/primary.ts; a fake in unit tests). */
export interface PrimaryRole {
  readonly app: { handle: Handler };
  readonly positions: Pick<PrimaryPositions, 'named' | 'stamp'>;
  stopReplication(): Promise<void>;
  replicateAgain(): Promise<PrimaryRole>;
  close(options: { shipFirst: boolean }): Promise<void>;
}

/** What a node starts in each role: processes in production (processParts), fakes in unit tests. */
export interface NodeParts {
  /** A keeper for one attempt at being primary: a lapsed lease is taken up again only by regain(). */
  tenure(url: string): Tenure;
  standBy(watch: StandbyWatch): Promise<StandbyRole>;
  takeOver(tenure: Tenure, catchUp: CatchUp, timings: Timings, view: PrimaryView): Promise<PrimaryRole>;
}

/**
 * What the node is, and what each state owns: the keeper of its lease (one per attempt at
 * being primary), a standby its Standby, a primary its Primary, a deposed primary the same until
 * it stops or follows another (it never writes again unless it regains the lease). Stopping
 * and stopped keep the role they stop. Only #to changes it, by the table of states.ts.
 */
type Role =
  | { kind: 'starting'; tenure: Tenure }
  | { kind: 'standby'; tenure: Tenure; standby: StandbyRole }
  | { kind: 'promoting'; tenure: Tenure; standby: StandbyRole | null }
  | { kind: 'primary'; tenure: Tenure; primary: PrimaryRole }
  | { kind: 'deposed'; tenure: Tenure; primary: PrimaryRole };
type NodeState = Role | { kind: 'stopping'; of: Role } | { kind: 'stopped'; of: Role };

/**
 * One node of a fenced group, from start to stop. It listens at once; then, if it may (serve:
 * the lease is free), it becomes primary before it says "listening". Otherwise it stands by:
 * it follows the replica into two files that take turns serving its reads (Standby), forwards
 * writes to the lease holder, and watches the holder's /health. After HEARTBEAT_MISSES misses,
 * or as soon as the lease is free, it promotes: lease first, then the newest data (the last WAL
 * segments applied to DATABASE_PATH), then replication (Primary). Every step is logged with its
 * duration. SIGTERM: HTTP, database, Litestream (last frames shipped), and only then the lease
 * is given up, so a standby never restores too early.
 */
export async function runFencedNode(
  config: Config,
  logger: Logger,
  location: LeaseLocation,
  { primaryUrl, host }: FencedNodeOptions,
): Promise<void> {
  const running = await listen((request, response) => node.handle(request, response), config, { onHost: host });
  const node = new FencedNode(config, logger, processParts(config, logger, location, host), {
    url: running.url,
    primaryUrl: primaryUrl ?? null,
  });
  const stopped = stopRequested().then((signal) => {
    node.stopping();
    return signal;
  });
  let failure: unknown = null;
  try {
    await node.start();
    announceListening(logger, running, { role: node.kind });
    const signal = await Promise.race([stopped, node.failed]);
    logger.info({ signal }, 'shutting down');
  } catch (error) {
    failure = error;
  }
  await node.stop(() => running.close());
  if (failure) throw failure;
  logger.info('stopped');
}

/** The parts of a node in production: a keeper on its own thread, Litestream, SQLite files. */
function processParts(config: Config, logger: Logger, location: LeaseLocation, host: Host): NodeParts {
  return {
    tenure: (url) => new ThreadedLeaseKeeper({ location, timings: leaseTimings(config), logger, url }),
    standBy: (watch) => Standby.start(config, logger, watch, host),
    takeOver: (tenure, catchUp, timings, view) =>
      Primary.takeOver(config, logger, tenure, catchUp, timings, view, host),
  };
}

export class FencedNode {
  #state: NodeState;
  /** The lease record as the standby last read it: whom writes are forwarded to and who is watched. */
  #holder: LeaseRecord | null = null;
  readonly #url: string;
  readonly #primaryUrl: string | null;
  readonly #heartbeat: Heartbeat;
  readonly #promotions: PromotionHistory;
  readonly #forwarding: NodeForwarding;
  /**
   * The node's loops and steps under way (a standby's watching, a deposed primary's regain and
   * what follows it), awaited on the way out: a Litestream started again just as the node
   * stops is the one stopped, and a standby started for another node is the one closed.
   */
  readonly #loops: Promise<void>[] = [];
  /** Rejects when a loop fails: the node stops, saying why. */
  readonly failed: Promise<never>;
  readonly #fail: (error: unknown) => void;
  /** What the primary's /ready asks of the node. */
  readonly #primaryView: PrimaryView = {
    isDeposed: () => this.#role().kind === 'deposed',
    promotions: () => this.#promotions.describe(),
  };

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly parts: NodeParts,
    { url, primaryUrl }: { url: string; primaryUrl: string | null },
  ) {
    this.#url = url;
    this.#primaryUrl = primaryUrl;
    this.#heartbeat = new Heartbeat(config.heartbeatIntervalMs);
    this.#promotions = new PromotionHistory(config.heartbeatIntervalMs);
    this.#forwarding = new NodeForwarding(config.jwtSecret);
    this.#state = { kind: 'starting', tenure: parts.tenure(url) };
    let fail: (error: unknown) => void = () => {};
    this.failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    this.#fail = fail;
    // Seen by whoever races it (runFencedNode); never an unhandled rejection before that.
    this.failed.catch(() => {});
  }

  /** What the node is now. */
  get kind(): NodeState['kind'] {
    return this.#state.kind;
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
    if (this.#state.kind === 'stopped') return readOnly(response, 'stopped');
    const role = this.#role();
    const app = appOf(role);
    if (!app) return readOnly(response, 'starting');
    if (OWN_PATHS.has(pathOf(request))) return app(request, response);
    if (role.kind === 'primary') return this.#asPrimary(request, response, app, role.primary.positions, role.tenure);
    const standby = standbyOf(role);
    if (role.kind === 'deposed' || !standby) return app(request, response);
    void this.#asStandby(request, response, app, standby.reads, from.kind === 'forwarded').catch(() =>
      response.destroy(),
    );
  };

  /** Writes get their position once they have committed; reads are answered as they come. */
  #asPrimary(
    request: IncomingMessage,
    response: ServerResponse,
    app: Handler,
    positions: PrimaryRole['positions'],
    tenure: Tenure,
  ) {
    if (SAFE_METHODS.has(request.method ?? 'GET')) return app(request, response);
    void classify(request, this.config.maxBodyBytes)
      .then(async ({ write, complete }) => {
        if (!complete) return tooLarge(response);
        if (write) {
          // Just promoted: the first writes wait for Litestream's generation, which their answer names.
          await positions.named(POSITION_NAMED_WITHIN_MS);
          positions.stamp(response);
          fenceAnswer(response, () => {
            const loss = tenure.whyNotHeld();
            return loss && describeLoss(loss);
          });
        }
        app(request, response);
      })
      .catch(() => response.destroy());
  }

  #asStandby(
    request: IncomingMessage,
    response: ServerResponse,
    app: Handler,
    reads: StandbyRole['reads'],
    forwarded: boolean,
  ) {
    const rules = {
      maxBodyBytes: this.config.maxBodyBytes,
      maxLagMs: this.config.standbyMaxLagMs,
      positionWaitMs: this.#positionWaitMs(),
    };
    return answerOnStandby(request, response, reads, rules, app, (chunks, write) =>
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

  /** Up to "listening": primary at once if it may (serve, on a free lease), a standby otherwise. */
  async start(): Promise<void> {
    const { tenure } = this.#role();
    const mayTakeOver = !this.#primaryUrl && (await tenure.current()) === null && (await tenure.tryAcquire());
    if (!(mayTakeOver && (await this.#promote({ leaseWasFree: true }, true)))) await this.#becomeStandby();
  }

  /** Nothing new starts from now on (no promotion, no standing by again, no regain). */
  stopping(): void {
    const state = this.#state;
    if (state.kind !== 'stopping' && state.kind !== 'stopped') this.#enter({ kind: 'stopping', of: state });
  }

  /**
   * The loops end (a promotion under way finishes), then HTTP (`closeHttp`: requests in flight
   * finish), then the role's resources, and only then the lease is given up, so that a standby
   * never restores before the last frames are in the replica; a deposed node has none.
   */
  async stop(closeHttp: () => Promise<void>): Promise<void> {
    this.stopping();
    // Including those added meanwhile: a regain under way may stand by for another node.
    for (let i = 0; i < this.#loops.length; i++) await this.#loops[i];
    await closeHttp();
    const role = this.#role();
    if ('standby' in role) await role.standby?.close();
    if ('primary' in role) await role.primary.close({ shipFirst: true });
    if (role.kind === 'primary' && role.tenure.whyNotHeld() === null) await role.tenure.release();
    role.tenure.stop();
    this.#enter({ kind: 'stopped', of: role });
  }

  /** The role held, or being stopped. */
  #role(): Role {
    const state = this.#state;
    return state.kind === 'stopping' || state.kind === 'stopped' ? state.of : state;
  }

  /**
   * The only way the node changes what it is: by the table of src/failover/states.ts. A
   * stopping node finishes the step under way: the role it stops changes by the same table.
   */
  #to(next: Role) {
    const state = this.#state;
    if (state.kind === 'stopping') {
      checkTransition(state.of.kind, next.kind);
      this.#state = { kind: 'stopping', of: next };
    } else this.#enter(next);
  }

  #enter(next: NodeState) {
    checkTransition(this.#state.kind, next.kind);
    if (next.kind !== this.#state.kind) this.logger.debug({ from: this.#state.kind, to: next.kind }, 'node state');
    this.#state = next;
  }

  /**
   * Follows the replica, serves reads from it, and watches the lease holder: at start, and
   * after another node took this one's lease.
   */
  async #becomeStandby() {
    const heartbeat = this.#heartbeat;
    const standby = await this.parts.standBy({
      keeper: () => this.#role().tenure,
      primary: () => this.#watched(),
      heartbeat: () => ({
        intervalMs: heartbeat.intervalMs,
        misses: heartbeat.misses,
        missesToPromote: this.config.heartbeatMisses,
        lastError: heartbeat.lastError,
        lastSuccessAt: heartbeat.lastSuccessAt && new Date(heartbeat.lastSuccessAt).toISOString(),
        role: this.#state.kind,
      }),
      promotions: () => this.#promotions.describe(),
      fail: this.#fail,
    });
    this.#to({ kind: 'standby', tenure: this.#role().tenure, standby });
    this.#loops.push(this.#standBy().catch(this.#fail));
  }

  /**
   * The lease holder as last read. Once another node holds it, requests this node forwarded to
   * the one before are abandoned: answered at once, retried by their clients on the new holder.
   */
  #holderIs(next: LeaseRecord | null) {
    const before = this.#holder;
    if (before?.url && next && next.holder !== before.holder) this.#forwarding.abandon(before.url);
    this.#holder = next;
  }

  /** The node watched: the lease holder, else the --primary this standby was started for. */
  #watched() {
    return this.#holder?.url ?? this.#primaryUrl;
  }

  /**
   * True once this node is the primary; false (standing by again) if the promotion failed.
   * `localMayBeNewest`: see CatchUp (true only for `serve` taking a free lease at start).
   */
  async #promote(why: Record<string, unknown>, localMayBeNewest: boolean): Promise<boolean> {
    const { logger } = this;
    const before = this.#role();
    const { tenure } = before;
    const standby = before.kind === 'standby' ? before.standby : null;
    this.#to({ kind: 'promoting', tenure, standby });
    const startedAt = performance.now();
    const timings: Timings = {};
    const promotions = this.#promotions;
    promotions.begin();
    logger.warn(
      { ...why, watched: this.#watched(), term: tenure.term, attempt: promotions.attempts },
      'promoting: this node takes over as primary',
    );
    let primary: PrimaryRole | null = null;
    try {
      // Reads go on from the other followed file while DATABASE_PATH becomes the primary's.
      await standby?.pause(timings);
      // The followed file is a few WAL segments from the head (docs/operations.md).
      const catchUp: CatchUp = { localMayBeNewest, follower: standby?.follower ?? null };
      primary = await this.parts.takeOver(tenure, catchUp, timings, this.#primaryView);
      const lost = tenure.whyNotHeld();
      if (lost) throw new LeaseLostError(lost);
      this.#to({ kind: 'primary', tenure, primary });
      tenure.onLost(() => this.#deposed());
      await standby?.handOver();
      const tookMs = Math.round(performance.now() - startedAt);
      promotions.promoted({ term: tenure.term, at: new Date().toISOString(), durationMs: tookMs, steps: timings });
      logger.info({ totalMs: tookMs, steps: timings, term: tenure.term }, 'promoted: this node is the primary');
      return true;
    } catch (error) {
      // Nothing half-done may write: the lease goes back for a node (or a later try) that can
      // take over cleanly, and this node stands by again.
      const message = (error as Error).message;
      await primary?.close({ shipFirst: false });
      standby?.resume();
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
      // A lease lost meanwhile, by kind: the one fact about this failure that is not the node's own.
      const leaseLoss = error instanceof LeaseLostError ? error.loss.kind : undefined;
      logger.error(
        { error: message, leaseLoss, steps: timings, term: tenure.term, attempt: promotions.attempts, retryInMs },
        'promotion failed: standing by again',
      );
      const next = this.parts.tenure(this.#url);
      this.#to(standby ? { kind: 'standby', tenure: next, standby } : { kind: 'starting', tenure: next });
      return false;
    }
  }

  /**
   * The lease lapsed under a primary: Litestream must not ship another frame nor start a
   * generation of its own. A lapse (a renewal too late) is taken back as soon as the lease is
   * free and nobody held it since; once another node holds it, this node stays deposed.
   */
  #deposed() {
    const role = this.#role();
    if (role.kind !== 'primary') return;
    this.#to({ kind: 'deposed', tenure: role.tenure, primary: role.primary });
    this.#loops.push(this.#regain(role.primary, role.tenure, role.primary.stopReplication()).catch(this.#fail));
  }

  /**
   * Another node holds the lease this one lost: this node becomes its standby, its file
   * restored from the replica (what it wrote that was not shipped is the new primary's loss to
   * tell, not this node's to keep), and serves reads again.
   */
  async #followAnother(lapsed: PrimaryRole, tenure: Tenure) {
    if (this.#state.kind !== 'deposed') return;
    this.#to({ kind: 'starting', tenure: this.parts.tenure(this.#url) });
    await lapsed.close({ shipFirst: false });
    tenure.stop();
    await this.#becomeStandby();
  }

  async #regain(lapsed: PrimaryRole, tenure: Tenure, replicationStopped: Promise<void>) {
    const { logger } = this;
    await replicationStopped.catch((error: Error) =>
      logger.warn({ error: error.message }, 'Litestream did not stop cleanly after the lease lapsed'),
    );
    // A stopping node regains nothing: its state is no longer deposed.
    while (this.#state.kind === 'deposed') {
      // Unreachable store: undefined, ask again. Still ours by the store's clock: wait it out.
      const holder = await tenure.current().catch(() => undefined);
      const regained = holder === null ? await tenure.regain().catch(() => undefined) : undefined;
      if (regained) break;
      if (regained === false || (holder && holder.holder !== tenure.holder)) {
        logger.warn({ holder: holder ?? 'another node, since' }, 'lease taken by another node: following it');
        return this.#followAnother(lapsed, tenure);
      }
      await sleep(LEASE_POLL_MS);
    }
    if (this.#state.kind !== 'deposed') return;
    try {
      this.#to({ kind: 'primary', tenure, primary: await lapsed.replicateAgain() });
      // Lost again while Litestream started: the same way down.
      if (tenure.whyNotHeld()) this.#deposed();
      else logger.info({ term: tenure.term }, 'primary again after a lease lapse');
    } catch (error) {
      logger.error({ error: (error as Error).message }, 'regained the lease but cannot replicate: giving it up');
      await tenure.release().catch(() => {});
    }
  }

  /** The standby's watching: the lease and the primary's /health, until it promotes or stops. */
  async #standBy() {
    const { config, logger } = this;
    let lastReplicaCheck = performance.now();
    /** When this standby first found the primary gone (or the lease free). */
    let suspectSince: number | null = null;
    let lastProbeAt = Number.NEGATIVE_INFINITY;
    for (let state = this.#state; state.kind === 'standby'; state = this.#state) {
      const { tenure, standby } = state;
      const tickStartedAt = performance.now();
      this.#holderIs(
        await tenure.current().catch((error: Error) => {
          logger.warn({ lease: tenure.location, error: error.message }, 'lease store unreachable');
          return this.#holder;
        }),
      );
      const target = this.#watched();
      // Once on the lease's trail, polled every LEASE_POLL_MS, the primary is still probed only
      // once per interval: a frozen one holds each probe for a whole interval.
      if (target && performance.now() - lastProbeAt >= config.heartbeatIntervalMs) {
        lastProbeAt = performance.now();
        await this.#heartbeat.probe(target);
      }
      const primaryGone = target !== null && this.#heartbeat.misses >= config.heartbeatMisses;
      // Stopping since the tick began: no promotion starts (the loop ends at its next turn).
      const mayPromote = this.#state.kind === 'standby' && this.#promotions.mayAttempt(performance.now());
      if ((this.#holder === null || primaryGone) && mayPromote) {
        suspectSince ??= performance.now();
        const acquired = await tenure.tryAcquire().catch((error: Error) => {
          logger.warn({ error: error.message }, 'could not take the lease');
          return false;
        });
        if (acquired) {
          // Writes arriving while this node promotes get READ_ONLY at once, not the old holder.
          this.#holderIs({ holder: tenure.holder, url: this.#url, term: tenure.term ?? 0 });
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
        await standby.checkReplica();
      }
      await sleep(Math.max(0, config.heartbeatIntervalMs - (performance.now() - tickStartedAt)));
    }
  }
}

/** The app answering for a role: none while starting (or promoting at start, from nothing). */
function appOf(role: Role): Handler | null {
  return 'primary' in role ? role.primary.app.handle : (standbyOf(role)?.app.handle ?? null);
}

const standbyOf = (role: Role) => ('standby' in role ? role.standby : null);
