import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.ts';
import type { Lease, LeaseGrant, LeaseRecord, LeaseTimings } from './lease.ts';

export interface LeaseKeeperOptions {
  lease: Lease;
  timings: LeaseTimings;
  logger: Logger;
  /** This node's URL, written into the lease so others know whom to watch. */
  url: string | null;
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
 * Once lost, a lease is never silently regained by this process: its copy of the database may
 * be behind whatever the next holder wrote.
 */
export class LeaseKeeper {
  readonly holder = newHolderId();
  readonly #options: LeaseKeeperOptions;
  #grant: LeaseGrant | null = null;
  #validUntil = 0;
  #lostReason: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #listeners = new Set<(reason: string) => void>();

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
  }

  get location(): string {
    return this.#options.lease.location;
  }

  get term(): number | null {
    return this.#grant?.term ?? null;
  }

  /** Why this node may not write by its lease now, or null while it holds a valid one. */
  whyNotHeld(): string | null {
    if (this.#lostReason) return `lease lost: ${this.#lostReason}`;
    if (!this.#grant) return 'lease not held';
    if (performance.now() >= this.#validUntil) return 'lease expired before it was renewed';
    return null;
  }

  /** Calls `listener` once, when the lease is lost. */
  onLost(listener: (reason: string) => void): void {
    this.#listeners.add(listener);
  }

  /** The live holder of the lease, or null when it is free. */
  current(): Promise<LeaseRecord | null> {
    return this.#options.lease.current();
  }

  /** One attempt to take the lease; on success renews it until lost or released. */
  async tryAcquire(): Promise<boolean> {
    if (this.#grant || this.#lostReason) return this.whyNotHeld() === null;
    const { lease, timings, url } = this.#options;
    const sentAt = performance.now();
    const grant = await lease.acquire({ holder: this.holder, url }, timings.ttlMs);
    if (!grant) return false;
    this.#granted(grant, sentAt);
    this.#options.logger.info({ lease: lease.location, term: grant.term, holder: this.holder }, 'lease acquired');
    this.#scheduleRenewal();
    return true;
  }

  /** Gives the lease up now (planned switchover): this node stops writing first. */
  async release(): Promise<void> {
    const grant = this.#grant;
    this.#lose('released');
    if (grant) await this.#options.lease.release(grant);
  }

  /** Stops renewing (the process is ending) without giving the lease up early. */
  stop(): void {
    this.#clearTimers();
  }

  #granted(grant: LeaseGrant, sentAt: number) {
    this.#grant = grant;
    this.#validUntil = sentAt + grant.ttlMs - this.#options.timings.safetyMarginMs;
    this.#armDeadline();
  }

  /** Lost by the clock even if no renewal ever answers: fires the listeners (stop replicating). */
  #armDeadline() {
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    const wait = Math.max(0, this.#validUntil - performance.now()) + 1;
    this.#deadlineTimer = setTimeout(() => this.#checkDeadline(), wait);
  }

  #checkDeadline() {
    if (this.#lostReason || !this.#grant) return;
    if (performance.now() >= this.#validUntil) return this.#lose('it expired before a renewal succeeded');
    // Timers run on the event loop's cached millisecond clock and can fire a little early.
    if (this.#deadlineTimer) this.#armDeadline();
  }

  #scheduleRenewal() {
    this.#timer = setTimeout(() => void this.#renew(), this.#options.timings.renewEveryMs);
  }

  async #renew() {
    const grant = this.#grant;
    if (!grant || this.#lostReason) return;
    this.#checkDeadline();
    if (this.#lostReason) return;
    const { lease, timings, logger } = this.#options;
    const sentAt = performance.now();
    try {
      const renewed = await lease.renew(grant, timings.ttlMs);
      if (this.#lostReason) return;
      if (!renewed) return this.#lose('the lease store says it is no longer ours');
      this.#granted(renewed, sentAt);
    } catch (error) {
      // The store is unreachable for now: keep trying until the deadline decides.
      logger.warn({ lease: lease.location, error: (error as Error).message }, 'lease renewal failed');
    }
    this.#scheduleRenewal();
  }

  #lose(reason: string) {
    if (this.#lostReason) return;
    this.#lostReason = reason;
    this.#clearTimers();
    this.#options.logger.warn(
      { lease: this.#options.lease.location, term: this.#grant?.term, reason },
      'lease lost: writes refused from now on',
    );
    for (const listener of this.#listeners) listener(reason);
  }

  #clearTimers() {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#timer = null;
    this.#deadlineTimer = null;
  }
}
