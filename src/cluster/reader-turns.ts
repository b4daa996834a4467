/** How long read workers get to take a host state before the writer hears "not taken". */
const TURN_WITHIN_MS = 2000;

interface Reader {
  /** The first turn this worker was sent (null: none yet, so it holds no file). */
  firstSent: number | null;
  /** The newest turn it said it took. */
  taken: number;
}

interface Waiter {
  turn: number;
  resolve: (stragglers: number[]) => void;
}

/**
 * The supervisor's record of which host state (by turn, src/cluster/messages.ts) each live read
 * worker reads from, so that the writer of a standby hands a followed file back to its follower
 * only once no read worker has it attached. A worker holds only what a state it was sent names,
 * and says each turn it took once it reads nothing else; so every worker has let go of the
 * files that turn `t` no longer names once it took `t` or a later turn, or was first sent a
 * turn from `t` on. A worker that exited holds nothing.
 */
export class ReaderTurns {
  readonly #readers = new Map<number, Reader>();
  readonly #waiters = new Set<Waiter>();

  /** Worker `id` was sent the state of `turn`. */
  sent(id: number, turn: number): void {
    const reader = this.#readers.get(id) ?? { firstSent: null, taken: -1 };
    reader.firstSent ??= turn;
    this.#readers.set(id, reader);
  }

  /** Worker `id` reads only what the state of `turn` names. */
  took(id: number, turn: number): void {
    const reader = this.#readers.get(id);
    if (!reader) return;
    reader.taken = Math.max(reader.taken, turn);
    this.#settle();
  }

  /** Worker `id` exited. */
  gone(id: number): void {
    this.#readers.delete(id);
    this.#settle();
  }

  /**
   * Resolves with no ids once every live worker took `turn`, or with the ids of those that had
   * not after `withinMs`.
   */
  taken(turn: number, withinMs = TURN_WITHIN_MS): Promise<number[]> {
    if (this.#stragglers(turn).length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        turn,
        resolve: (stragglers) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(stragglers);
        },
      };
      const timer = setTimeout(() => waiter.resolve(this.#stragglers(turn)), withinMs);
      this.#waiters.add(waiter);
    });
  }

  #stragglers(turn: number): number[] {
    return [...this.#readers]
      .filter(([, { firstSent, taken }]) => firstSent !== null && firstSent < turn && taken < turn)
      .map(([id]) => id);
  }

  #settle() {
    for (const waiter of this.#waiters) if (this.#stragglers(waiter.turn).length === 0) waiter.resolve([]);
  }
}
