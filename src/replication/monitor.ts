import { bytesBehind, type LitestreamDatabaseMetrics, readLitestreamMetrics, type WalPosition } from './metrics.ts';
import { ShadowWalIndexes } from './shadow-wal.ts';
import { WalReader } from './wal.ts';

const MAX_HISTORY = 10_000;

export interface ReplicationSample {
  sampledAt: string;
  /** The end of the committed WAL on this machine, in Litestream's current WAL index. */
  local: WalPosition;
  /** Where Litestream's copy of the WAL (its shadow WAL) ends; null before it has one. */
  shadow: WalPosition | null;
  /** How far the replica has got; null until Litestream reports a replica. */
  replica: WalPosition | null;
  /** Committed bytes not in the replica yet. */
  lagBytes: number | null;
  /** How long the replica has been missing some committed write (0 when it has them all). */
  lagSeconds: number | null;
  syncs: number;
  syncErrors: number;
}

export interface ReplicationReading {
  /** The last good sample, if any. */
  sample: ReplicationSample | null;
  /** Why the last attempt to read Litestream's metrics failed, or null. */
  error: string | null;
}

export interface ReplicationMonitorOptions {
  metricsUrl: string;
  /** Absolute path, as Litestream labels its metrics. */
  databasePath: string;
  intervalMs?: number;
}

/**
 * Samples Litestream's metrics and the local WAL side by side, so replication lag can be told
 * in bytes and in seconds without touching the database. The position for the replica to
 * reach is read before Litestream's figures, so a sample never claims a write is replicated
 * that the replica does not have.
 */
export class ReplicationMonitor {
  readonly metricsUrl: string;
  #databasePath: string;
  #wal: WalReader;
  #shadow: ShadowWalIndexes;
  #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #reading: ReplicationReading = { sample: null, error: null };
  /**
   * Where the local WAL ended at each recent sample, oldest first: the replica's lag in time is
   * the age of the newest of these it has reached, the moment after which it lacks something.
   */
  #history: { at: number; local: WalPosition }[] = [];

  constructor({ metricsUrl, databasePath, intervalMs = 250 }: ReplicationMonitorOptions) {
    this.metricsUrl = metricsUrl;
    this.#databasePath = databasePath;
    this.#wal = new WalReader(databasePath);
    this.#shadow = new ShadowWalIndexes(databasePath);
    this.#intervalMs = intervalMs;
  }

  /** Samples every interval until stop(). */
  start(): void {
    const tick = async () => {
      await this.sample().catch(() => undefined);
      if (this.#timer) this.#timer = setTimeout(tick, this.#intervalMs).unref();
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  latest(): ReplicationReading {
    return this.#reading;
  }

  /** Reads the WAL and Litestream's metrics once, and records the result. */
  async sample(): Promise<ReplicationSample> {
    const startedAt = Date.now();
    const walBytes = this.#wal.committedBytes();
    let metrics: LitestreamDatabaseMetrics;
    try {
      metrics = await readLitestreamMetrics(this.metricsUrl, this.#databasePath);
    } catch (error) {
      this.#reading = { ...this.#reading, error: (error as Error).message };
      throw error;
    }
    const now = Date.now();
    const local = { index: metrics.shadowIndex, offset: walBytes };
    const replica = metrics.replicas[0]?.position ?? null;
    const lagBytes = replica ? bytesBehind(local, replica) : null;
    const lagSeconds = replica ? this.#lagSeconds(startedAt, local, replica, now) : null;
    const sample: ReplicationSample = {
      sampledAt: new Date(now).toISOString(),
      local,
      shadow: this.#shadow.position(),
      replica,
      lagBytes,
      lagSeconds,
      syncs: metrics.syncs,
      syncErrors: metrics.syncErrors,
    };
    this.#reading = { sample, error: null };
    return sample;
  }

  #lagSeconds(at: number, local: WalPosition, replica: WalPosition, now: number): number {
    this.#history.push({ at, local });
    const reached = this.#history.findLastIndex((entry) => bytesBehind(entry.local, replica) === 0);
    // Older entries can never be the answer again: the replica only moves forward.
    if (reached > 0) this.#history.splice(0, reached);
    // A replica stuck for long (an unreachable store) must not grow this without bound; the
    // oldest entry stays, so the lag it gives stays true.
    if (this.#history.length > MAX_HISTORY) this.#history.splice(1, 1);
    if (bytesBehind(local, replica) === 0) return 0;
    // Whatever the replica lacks was written after the newest sample it has reached (an upper
    // bound, as fine as the sampling interval).
    return (now - (this.#history[0]?.at ?? at)) / 1000;
  }

  /**
   * Resolves with the first sample, taken after this call, in which the replica holds every
   * write committed before the call; rejects after `timeoutMs`.
   */
  async waitUntilReplicated(timeoutMs: number): Promise<ReplicationSample> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sample = await this.sample().catch(() => null);
      if (sample?.lagBytes === 0) return sample;
      if (Date.now() > deadline) {
        throw new Error(
          `the replica did not catch up within ${timeoutMs} ms (${sample?.lagBytes ?? '?'} bytes behind)`,
        );
      }
      await new Promise((done) => setTimeout(done, 50));
    }
  }
}
