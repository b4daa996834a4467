import type { Timings } from './takeover.ts';

/** How one promotion ended. */
export interface PromotionAttempt {
  outcome: 'promoted' | 'failed';
  /** The lease term it ran under. */
  term: number | null;
  at: string;
  durationMs: number;
  steps: Timings;
  error: string | null;
}

/** The longest a standby waits between failed promotions before it takes the lease again. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Every promotion this node attempted, for /ready and /metrics, and when it may try again. A
 * promotion that fails for a reason of its own (the replica unreadable, a damaged copy) would
 * fail again at once: each retry waits twice as long as the one before, so a standby that
 * cannot promote keeps trying without taking a new lease term every heartbeat. A promotion
 * that lost its lease to another node is not this node's fault and is retried at the usual pace.
 */
export class PromotionHistory {
  attempts = 0;
  failed = 0;
  last: PromotionAttempt | null = null;
  #consecutiveFailures = 0;
  /** performance.now() before which no new attempt starts. */
  #notBefore = 0;

  constructor(readonly baseDelayMs: number) {}

  /** Whether a new attempt may start now. */
  mayAttempt(now: number): boolean {
    return now >= this.#notBefore;
  }

  begin(): void {
    this.attempts += 1;
  }

  promoted(attempt: Omit<PromotionAttempt, 'outcome' | 'error'>): void {
    this.#consecutiveFailures = 0;
    this.last = { ...attempt, outcome: 'promoted', error: null };
  }

  /** Records a failure; returns how long to wait before the next attempt. */
  failure(attempt: Omit<PromotionAttempt, 'outcome'>, { lostToAnother }: { lostToAnother: boolean }): number {
    this.failed += 1;
    this.last = { ...attempt, outcome: 'failed' };
    if (!lostToAnother) this.#consecutiveFailures += 1;
    const delay = lostToAnother
      ? this.baseDelayMs
      : Math.min(this.baseDelayMs * 2 ** (this.#consecutiveFailures - 1), MAX_RETRY_DELAY_MS);
    this.#notBefore = performance.now() + delay;
    return delay;
  }

  describe(): Record<string, unknown> {
    const waitMs = Math.max(0, Math.round(this.#notBefore - performance.now()));
    return {
      attempts: this.attempts,
      failed: this.failed,
      last: this.last,
      nextAttemptAt: waitMs > 0 ? new Date(Date.now() + waitMs).toISOString() : null,
    };
  }
}
