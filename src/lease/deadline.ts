/** Milliseconds of CLOCK_MONOTONIC: the same clock in every thread of the process (performance.now() is not). */
export const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

/**
 * The moment until which this process may write by its lease, in one cell of shared memory:
 * the thread that renews the lease moves it, the thread that serves requests reads it at the
 * moment a write asks, synchronously and exactly, whatever either thread is busy with.
 */
export class WriteDeadline {
  readonly #cell: BigInt64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT)) {
    this.#cell = new BigInt64Array(buffer);
  }

  /** What another thread needs to share this deadline. */
  get buffer(): SharedArrayBuffer {
    return this.#cell.buffer as SharedArrayBuffer;
  }

  /** Microseconds, so the cell holds an integer; 0 is "not held". */
  set(untilMs: number): void {
    Atomics.store(this.#cell, 0, BigInt(Math.max(0, Math.floor(untilMs * 1000))));
  }

  get(): number {
    return Number(Atomics.load(this.#cell, 0)) / 1000;
  }

  passed(): boolean {
    return monotonicMs() >= this.get();
  }
}
