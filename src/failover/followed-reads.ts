import { type Db, openDatabase } from '../db/client.ts';
import type { FilePosition, ReplicaFollower } from '../replication/follower.ts';
import { holds, type WritePosition } from './positions.ts';

/** The schema name the served file is attached under: unqualified table names resolve to it. */
const SERVED_SCHEMA = 'followed';

interface Served {
  path: string;
  position: FilePosition;
  /** Epoch ms at which the served data was the replica's newest: when the follower last listed it. */
  freshAt: number;
}

interface Waiter {
  wanted: WritePosition;
  resolve: (held: boolean) => void;
}

/**
 * A standby's reads, served from its followed data while the follower goes on: two followed
 * files take turns. One is attached to the connection the standby's app reads through; the
 * other, which no connection has open, is brought to the replica's head (the segments applied
 * by SQLite, whole transactions only), then attached in its place, in one turn of the event
 * loop: DETACH waits for no reader (better-sqlite3 runs each statement to its end
 * synchronously) and SQLite prepares each cached statement again for the new file. A reader
 * thus sees one whole file or the other, never a page being written, and each statement sees
 * a committed state of the primary. The connection itself is an empty in-memory database,
 * `query_only`: the app, its plans and its prepared statements live as long as the standby.
 */
export class FollowedReads {
  readonly db: Db;
  #served: Served | null = null;
  #waiters = new Set<Waiter>();

  constructor(
    /** The standby's follower, once the replica has a generation. */
    private readonly followerOf: () => ReplicaFollower | null,
    private readonly paths: readonly [string, string],
  ) {
    this.db = openDatabase(':memory:');
    this.db.$client.pragma('query_only = ON');
  }

  /** The file served now, or null before the first round. */
  get servedPath(): string | null {
    return this.#served?.path ?? null;
  }

  /** How old the served data is, in ms (null: nothing served yet). */
  lagMs(now = Date.now()): number | null {
    return this.#served ? Math.max(0, now - this.#served.freshAt) : null;
  }

  /**
   * One round: the file not served brought to the replica's head, then served, if it holds
   * anything the served one does not. Resolves once done (the follower queues rounds).
   */
  async refresh(): Promise<void> {
    const follower = this.followerOf();
    if (!follower) return;
    const idle = this.paths[0] === this.#served?.path ? this.paths[1] : this.paths[0];
    await follower.catchUp({ onto: idle });
    const position = follower.positionOf(idle);
    if (!position) return;
    const served = this.#served;
    if (served && sameFilePosition(served.position, position)) {
      served.freshAt = follower.listedAt;
      return;
    }
    this.#serve({ path: idle, position, freshAt: follower.listedAt });
  }

  /** Before a promotion takes `path` over: the other file, brought to the head, is served instead. */
  async release(path: string): Promise<void> {
    const follower = this.followerOf();
    if (this.#served?.path !== path || !follower) return;
    const other = this.paths[0] === path ? this.paths[1] : this.paths[0];
    await follower.catchUp({ onto: other });
    const position = follower.positionOf(other);
    if (position) this.#serve({ path: other, position, freshAt: follower.listedAt });
    else this.#detach();
  }

  /** True when the served data includes the write at `wanted`. */
  holds(wanted: WritePosition): boolean {
    const served = this.#served;
    if (!served) return false;
    if (served.position.generation !== wanted.generation) {
      return this.followerOf()?.followedPast(wanted.generation) ?? false;
    }
    return holds({ ...served.position, offset: served.position.walBytes }, wanted);
  }

  /** Resolves true as soon as the served data includes `wanted`, false after `ms`. */
  waitFor(wanted: WritePosition, ms: number): Promise<boolean> {
    if (this.holds(wanted)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        wanted,
        resolve: (held) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(held);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), ms);
      this.#waiters.add(waiter);
    });
  }

  describe() {
    const served = this.#served;
    return {
      file: served?.path ?? null,
      position: served?.position ?? null,
      freshAt: served ? new Date(served.freshAt).toISOString() : null,
      lagMs: this.lagMs(),
    };
  }

  close(): void {
    for (const waiter of this.#waiters) waiter.resolve(false);
    this.db.$client.close();
  }

  #serve(next: Served) {
    this.#detach();
    this.db.$client.prepare(`attach database ? as ${SERVED_SCHEMA}`).run(next.path);
    this.#served = next;
    for (const waiter of this.#waiters) if (this.holds(waiter.wanted)) waiter.resolve(true);
  }

  #detach() {
    if (!this.#served) return;
    this.db.$client.exec(`detach database ${SERVED_SCHEMA}`);
    this.#served = null;
  }
}

const sameFilePosition = (a: FilePosition, b: FilePosition) =>
  a.generation === b.generation && a.index === b.index && a.walBytes === b.walBytes;
