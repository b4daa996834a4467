import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { monotonicMs, WriteDeadline } from './deadline.ts';
import {
  describeLoss,
  type Lease,
  type LeaseGrant,
  type LeaseLoss,
  type LeaseRecord,
  type LeaseTimings,
} from './lease.ts';

/** What the keeper logs with: pino's logger, or a thread's messages to it (keeper-thread.ts). */
export interface KeeperLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface LeaseKeeperOptions {
  lease: Lease;
  timings: LeaseTimings;
  logger: KeeperLog;
  /** This node's URL, written into the lease so others know whom to watch. */
  url: string | null;
  /** Who this process is in the lease; a new id by default. */
  holder?: string;
  /** Where the write deadline is kept: shared with the thread that serves requests (keeper-thread.ts). */
  deadline?: WriteDeadline;
}

/** What a node asks of the keeper of its lease, whichever thread that keeper runs on. */
export interface Tenure {
  readonly holder: string;
  readonly location: string;
  readonly term: number | null;
  readonly regains: { count: number; lastAt: string | null };
  /** Why this node may not write by its lease now, or null while it holds a valid one. */
  whyNotHeld(): LeaseLoss | null;
  /** Calls `listener` once, when the lease is lost. */
  onLost(listener: (loss: LeaseLoss) => void): void;
  current(): Promise<LeaseRecord | null>;
  tryAcquire(): Promise<boolean>;
  regain(): Promise<boolean>;
  release(): Promise<void>;
  stop(): void;
}

/** A holder id unique to this process: a restarted node is a new contender. */
export const newHolderId = () => `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/**
 * Holds a lease for this process: takes it, renews it, and answers "may I write?" from the
 * monotonic clock at the moment of asking. The deadline is the moment the last successful
 * renewal was *sent*, plus the TTL, minus the safety margin: the lease store started its TTL
 * later than that, so the holder always stops before the store could let anyone else in. A
 * process that was frozen (SIGSTOP, a long GC pause, a suspended VM) and wakes up past its
 * deadline refuses writes on the very first request, before any timer of its own has run.
 * A lease lost because it could not be renewed in time is taken up again only by regain(),
 * and only while the store shows that nobody held it since: otherwise this copy of the
 * database may be behind whatever the next holder wrote.
 */
export class LeaseKeeper implements Tenure {
  readonly holder: string;
  readonly #options: LeaseKeeperOptions;
  readonly #deadline: WriteDeadline;
  #grant: LeaseGrant | null = null;
  #loss: LeaseLoss | null = null;
  /** The last renewal's failure while the store does not answer; null once one succeeds. */
  #storeError: string | null = null;
  /** Terms taken up again after a lapse (regain()), for /ready and /metrics. */
  #regains = 0;
  #lastRegainAt: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #listeners = new Set<(loss: LeaseLoss) => void>();

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.holder = options.holder ?? newHolderId();
    this.#deadline = options.deadline ?? new WriteDeadline();
  }

  get location(): string {
    return this.#options.lease.location;
  }

  get term(): number | null {
    return this.#grant?.term ?? null;
  }

  /** The loss this keeper recorded (its listeners were told), whatever the deadline says. */
  get loss(): LeaseLoss | null {
    return this.#loss;
  }

  whyNotHeld(): LeaseLoss | null {
    if (this.#loss) return this.#loss;
    if (!this.#grant) return { kind: 'not-held' };
    if (this.#deadline.passed()) return { kind: 'expired', storeError: this.#storeError };
    return null;
  }

  onLost(listener: (loss: LeaseLoss) => void): void {
    this.#listeners.add(listener);
  }

  /** The live holder of the lease, or null when it is free. */
  current(): Promise<LeaseRecord | null> {
    return this.#options.lease.current();
  }

  /** One attempt to take the lease; on success renews it until lost or released. */
  async tryAcquire(): Promise<boolean> {
    if (this.#grant || this.#loss) return this.whyNotHeld() === null;
    const { lease, timings, url } = this.#options;
    const sentAt = monotonicMs();
    const grant = await lease.acquire({ holder: this.holder, url }, timings.ttlMs);
    if (!grant) return false;
    this.#granted(grant, sentAt);
    this.#options.logger.info({ lease: lease.location, term: grant.term, holder: this.holder }, 'lease acquired');
    this.#scheduleRenewal();
    return true;
  }

  /** How often this process took its lease up again after a lapse, and when last. */
  get regains(): { count: number; lastAt: string | null } {
    return { count: this.#regains, lastAt: this.#lastRegainAt };
  }

  /**
   * After a lapse (a renewal that came too late: a stalled disk, a frozen process), takes the
   * lease again with a new term if it is free and this node's lost term is still the last one
   * granted; true once held again. Never after release(): that was given up on purpose.
   */
  async regain(): Promise<boolean> {
    const lost = this.#grant;
    if (!lost || !this.#loss || this.#released()) return false;
    const { lease, timings, url, logger } = this.#options;
    const sentAt = monotonicMs();
    const grant = await lease.regain({ holder: this.holder, url }, timings.ttlMs, lost.term);
    if (!grant) return false;
    if (this.#grant !== lost || this.#released()) {
      // Released meanwhile (the process is stopping): the fresh term is given back at once.
      await lease.release(grant);
      return false;
    }
    const lapse = this.#loss.kind;
    this.#loss = null;
    this.#regains += 1;
    this.#lastRegainAt = new Date().toISOString();
    this.#granted(grant, sentAt);
    this.#scheduleRenewal();
    logger.warn(
      { lease: lease.location, term: grant.term, lostTerm: lost.term, lapse, holder: this.holder },
      'lease regained: nobody held it since it lapsed',
    );
    return true;
  }

  /** Gives the lease up now (planned switchover): this node stops writing first. */
  async release(): Promise<void> {
    const grant = this.#grant;
    // Lost already (listeners told): from now on given up on purpose, never regained.
    if (this.#loss) this.#loss = { kind: 'released' };
    else this.#lose({ kind: 'released' });
    if (grant) await this.#options.lease.release(grant);
  }

  /** Stops renewing (the process is ending) without giving the lease up early. */
  stop(): void {
    this.#clearTimers();
  }

  /** Given up on purpose (release()): never taken up again by regain(). */
  #released(): boolean {
    return this.#loss?.kind === 'released';
  }

  #granted(grant: LeaseGrant, sentAt: number) {
    this.#grant = grant;
    this.#deadline.set(sentAt + grant.ttlMs - this.#options.timings.safetyMarginMs);
    this.#armDeadline();
  }

  /** Lost by the clock even if no renewal ever answers: fires the listeners (stop replicating). */
  #armDeadline() {
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    const wait = Math.max(0, this.#deadline.get() - monotonicMs()) + 1;
    this.#deadlineTimer = setTimeout(() => this.#checkDeadline(), wait);
  }

  #checkDeadline() {
    if (this.#loss || !this.#grant) return;
    if (this.#deadline.passed()) return this.#lose({ kind: 'expired', storeError: this.#storeError });
    // Timers run on the event loop's cached millisecond clock and can fire a little early.
    if (this.#deadlineTimer) this.#armDeadline();
  }

  #scheduleRenewal() {
    const dueAt = monotonicMs() + this.#options.timings.renewEveryMs;
    this.#timer = setTimeout(() => void this.#renew(dueAt), this.#options.timings.renewEveryMs);
  }

  async #renew(dueAt: number) {
    const grant = this.#grant;
    if (!grant || this.#loss) return;
    this.#checkDeadline();
    if (this.#loss) return;
    const { lease, timings, logger } = this.#options;
    const sentAt = monotonicMs();
    // Lost meanwhile, and maybe regained as a new term: this answer is about a term gone by.
    const stale = () => this.#loss !== null || this.#grant !== grant;
    try {
      const renewed = await lease.renew(grant, timings.ttlMs);
      this.#reportSlow(sentAt - dueAt, monotonicMs() - sentAt);
      if (stale()) return;
      this.#storeError = null;
      if (!renewed) return this.#lose({ kind: 'taken' });
      this.#granted(renewed, sentAt);
    } catch (error) {
      if (stale()) return;
      // The store is unreachable for now: keep trying until the deadline decides.
      this.#storeError = (error as Error).message;
      logger.warn({ lease: lease.location, error: (error as Error).message }, 'lease renewal failed');
    }
    this.#scheduleRenewal();
  }

  /**
   * A renewal that ate a whole renewal period of the margin, by where the time went: the event
   * loop (the timer fired late) or the lease store (the answer came late). The figures an
   * operator needs before the lease is lost for good.
   */
  #reportSlow(lateMs: number, storeMs: number) {
    const { lease, timings, logger } = this.#options;
    if (lateMs + storeMs < timings.renewEveryMs) return;
    logger.warn(
      { lease: lease.location, timerLateMs: Math.round(lateMs), storeMs: Math.round(storeMs), ttlMs: timings.ttlMs },
      'lease renewal slow',
    );
  }

  #lose(loss: LeaseLoss) {
    if (this.#loss) return;
    this.#loss = loss;
    this.#deadline.set(0);
    this.#clearTimers();
    this.#options.logger.warn(
      { lease: this.#options.lease.location, term: this.#grant?.term, reason: loss.kind, why: describeLoss(loss) },
      'lease lost: writes refused from now on',
    );
    for (const listener of this.#listeners) listener(loss);
  }

  #clearTimers() {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#timer = null;
    this.#deadlineTimer = null;
  }
}
