import type { Logger } from '../logger.ts';
import { readLitestreamMetrics, type WalPosition } from './metrics.ts';
import { ShadowWalIndexes } from './shadow-wal.ts';
import { type WalEnd, WalReader } from './wal.ts';

/** What a write waits for: the end of the committed WAL right after it, in the generation of that moment. */
export interface CommitMark extends WalEnd {
  generation: string | null;
}

export interface ReplicaBarrierOptions {
  /** Absolute path, as Litestream labels its metrics and names its shadow directory. */
  databasePath: string;
  metricsUrl: string;
  /** How often Litestream's metrics are read while some write waits. */
  pollIntervalMs: number;
  /** How long a write waits for the replica before it is answered NOT_REPLICATED. */
  timeoutMs: number;
  logger?: Logger;
}

/** The replica did not confirm a committed write within the bound. */
export class NotReplicatedError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the replica did not confirm it within ${timeoutMs} ms`);
  }
}

/** How many recent confirmations /ready's wait percentiles are taken from. */
const RECENT_WAITS = 1000;

interface Waiter {
  mark: CommitMark;
  since: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** True when the replica holds every WAL byte before `offset` of WAL `index`. */
export const replicaHolds = (replica: WalPosition, index: number, offset: number) =>
  replica.index > index || (replica.index === index && replica.offset >= offset);

/**
 * Group commit for DURABILITY=replicated. A write marks where the committed WAL ends right
 * after its transaction (salts and offset: SQLite's own file, read synchronously, so the mark
 * is at or past the write), then waits. One poller, running only while someone waits, reads
 * Litestream's metrics every `pollIntervalMs`: the replica's position is (WAL index, offset)
 * in Litestream's numbering, and the shadow WAL headers translate a mark's salts into that
 * index. Every waiter the replica has passed is released by the same reading, so a burst of
 * writes shares one upload instead of queueing one per sync interval.
 *
 * Generations: indexes start again at 0 in each one, so a reading counts only when the
 * generation is the mark's, both before and after the metrics were read; a mark from an
 * earlier generation is taken again in the current one.
 */
export class ReplicaBarrier {
  readonly options: ReplicaBarrierOptions;
  #wal: WalReader;
  #shadow: ShadowWalIndexes;
  #waiters = new Set<Waiter>();
  #polling = false;
  #stopped = false;
  #figures = { confirmed: 0, notReplicated: 0, readings: 0, readingErrors: 0, lastError: null as string | null };
  /** How long recent confirmed writes waited (ms), a ring of RECENT_WAITS. */
  #waits: number[] = [];

  constructor(options: ReplicaBarrierOptions) {
    this.options = options;
    this.#wal = new WalReader(options.databasePath);
    this.#shadow = new ShadowWalIndexes(options.databasePath);
  }

  /** Where the committed WAL ends now: call it after the write's transaction has committed. */
  mark(): CommitMark {
    return { ...this.#wal.committedEnd(), generation: this.#shadow.generation() };
  }

  /** Resolves once the replica holds everything up to `mark`; rejects with NotReplicatedError after the bound. */
  waitFor(mark: CommitMark): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('the replica barrier is stopped'));
    const { timeoutMs } = this.options;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        mark,
        since: Date.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          this.#figures.notReplicated++;
          reject(new NotReplicatedError(timeoutMs));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
      void this.#poll();
    });
  }

  /** Marks now and waits: what a mutation does once its writes have committed. */
  waitForCommitted(): Promise<void> {
    return this.waitFor(this.mark());
  }

  /** Figures for /ready. */
  describe() {
    const { pollIntervalMs, timeoutMs } = this.options;
    const waits = [...this.#waits].sort((a, b) => a - b);
    const at = (quantile: number) => waits[Math.min(waits.length - 1, Math.floor(quantile * waits.length))] ?? null;
    return {
      mode: 'replicated',
      pollIntervalMs,
      timeoutMs,
      waiting: this.#waiters.size,
      ...this.#figures,
      recentWaitMs: { count: waits.length, p50: at(0.5), p99: at(0.99), max: waits.at(-1) ?? null },
    };
  }

  /** Fails every waiter (the server is stopping) and stops polling. */
  stop(): void {
    this.#stopped = true;
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      this.#figures.notReplicated++;
      waiter.reject(new Error('replication stopped on this node (shutdown, or its lease was lost) first'));
    }
    this.#waiters.clear();
  }

  /** The one poll loop: starts with the first waiter, ends with the last. */
  async #poll() {
    if (this.#polling) return;
    this.#polling = true;
    try {
      while (this.#waiters.size > 0 && !this.#stopped) {
        const startedAt = Date.now();
        // A failed round (a file Litestream replaced mid-read) is retried by the next one.
        await this.#readOnce().catch((error: Error) => {
          this.#figures.readingErrors++;
          this.#figures.lastError = error.message;
        });
        if (this.#waiters.size === 0) break;
        const rest = this.options.pollIntervalMs - (Date.now() - startedAt);
        if (rest > 0) await new Promise((done) => setTimeout(done, rest));
      }
    } finally {
      this.#polling = false;
    }
  }

  async #readOnce() {
    const { databasePath, metricsUrl, pollIntervalMs } = this.options;
    const generation = this.#shadow.generation();
    if (!generation) return;
    for (const waiter of this.#waiters) {
      // Marked without a WAL, or in a generation since replaced: mark again, now. A later mark
      // is at or past the write, and a new generation starts with a snapshot and the whole
      // current WAL, so the write is in it either way.
      if (waiter.mark.generation !== generation || waiter.mark.salts === '') waiter.mark = this.mark();
    }
    let replica: WalPosition | undefined;
    let shadowIndex: number;
    try {
      const metrics = await readLitestreamMetrics(metricsUrl, databasePath, {
        timeoutMs: Math.max(1000, pollIntervalMs),
      });
      replica = metrics.replicas[0]?.position;
      shadowIndex = metrics.shadowIndex;
      this.#figures.readings++;
      this.#figures.lastError = null;
    } catch (error) {
      this.#figures.readingErrors++;
      this.#figures.lastError = (error as Error).message;
      return;
    }
    // The replica's position belongs to `generation` only if Litestream did not start another
    // meanwhile, and is not a figure left from an earlier one (ahead of the shadow WAL).
    if (!replica || replica.index > shadowIndex || this.#shadow.generation() !== generation) return;
    for (const waiter of this.#waiters) {
      const { mark } = waiter;
      if (mark.generation !== generation || mark.salts === '') continue;
      const index = this.#shadow.indexOf(generation, mark.salts);
      if (index === null || !replicaHolds(replica, index, mark.offset)) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      this.#figures.confirmed++;
      this.#waits[(this.#figures.confirmed - 1) % RECENT_WAITS] = Date.now() - waiter.since;
      waiter.resolve();
    }
  }
}
