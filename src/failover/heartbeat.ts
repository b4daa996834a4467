/**
 * Whether the primary answers: one GET of its /health per interval, each allowed one interval
 * to answer. `misses` counts the consecutive failures; a single success resets it, so a slow
 * moment does not add up to a failover.
 */
export class Heartbeat {
  #misses = 0;
  #lastError: string | null = null;
  #lastSuccessAt: number | null = null;

  constructor(readonly intervalMs: number) {}

  get misses(): number {
    return this.#misses;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Epoch ms of the last answer, or null if the primary never answered. */
  get lastSuccessAt(): number | null {
    return this.#lastSuccessAt;
  }

  /** Probes `${url}/health` once; true if it answered 200 in time. */
  async probe(url: string): Promise<boolean> {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(this.intervalMs) });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.#misses = 0;
      this.#lastError = null;
      this.#lastSuccessAt = Date.now();
      return true;
    } catch (error) {
      this.#misses += 1;
      this.#lastError = (error as Error).message;
      return false;
    }
  }
}
