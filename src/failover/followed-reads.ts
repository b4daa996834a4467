import type { Db } from '../db/client.ts';
import type { FileSharers, ServedFile } from '../host/host.ts';
import type { FilePosition, ReplicaFollower } from '../replication/follower.ts';
import type { WritePosition } from './positions.ts';
import { AttachedFile, lagOf, servedHolds } from './served-file.ts';

interface Waiter {
  wanted: WritePosition;
  resolve: (held: boolean) => void;
}

/**
 * A standby's reads, served from its followed data while the follower goes on: two followed
 * files take turns. One is attached to the connection the standby's app reads through
 * (AttachedFile); the other, which no connection has open, is brought to the replica's head
 * (the segments applied by SQLite, whole transactions only), then attached in its place, in one
 * turn of the event loop. A reader thus sees one whole file or the other, never a page being
 * written, and each statement sees a committed state of the primary.
 *
 * WORKERS > 1: the host's read workers attach the served file too (src/cluster/reader.ts), so
 * "no connection has it open" spans processes. Each swap is told to them (`sharers.served`),
 * and before a round writes the file not served it waits until every live read worker said it
 * reads the file served now (`sharers.letGo`): a file is handed back to the follower only once
 * no process of the host has it attached. A worker that died does not count; one that does not
 * answer within a bound makes the round fail before it writes anything (the served data ages,
 * and past STANDBY_MAX_LAG reads go to the primary), except on the way to a promotion, which
 * stops that worker instead and goes on.
 */
export class FollowedReads {
  readonly db: Db;
  readonly #file = new AttachedFile();
  #served: ServedFile | null = null;
  #waiters = new Set<Waiter>();

  constructor(
    /** The standby's follower, once the replica has a generation. */
    private readonly followerOf: () => ReplicaFollower | null,
    private readonly paths: readonly [string, string],
    /** WORKERS > 1: the read workers serving the same file. */
    private readonly sharers?: FileSharers,
  ) {
    this.db = this.#file.db;
  }

  /** The file served now, or null before the first round. */
  get servedPath(): string | null {
    return this.#served?.path ?? null;
  }

  /** The file served now, its position and freshness (read, not changed, by the host's other processes). */
  get served(): Readonly<ServedFile> | null {
    return this.#served;
  }

  /** How old the served data is, in ms (null: nothing served yet). */
  lagMs(now = Date.now()): number | null {
    return lagOf(this.#served, now);
  }

  /**
   * One round: the file not served brought to the replica's head, then served, if it holds
   * anything the served one does not. Resolves once done (the follower queues rounds).
   */
  async refresh(): Promise<void> {
    const follower = this.followerOf();
    if (!follower) return;
    const idle = this.paths[0] === this.#served?.path ? this.paths[1] : this.paths[0];
    await this.sharers?.letGo({ evict: false });
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

  /**
   * Before a promotion takes `path` over: the other file, brought to the head, is served
   * instead, and no process of the host reads `path` any more once this resolves.
   */
  async release(path: string): Promise<void> {
    const follower = this.followerOf();
    // Not served here: a read worker may still read it, until it took the state that says so.
    if (this.#served?.path !== path || !follower) return this.sharers?.letGo({ evict: true });
    const other = this.paths[0] === path ? this.paths[1] : this.paths[0];
    await this.sharers?.letGo({ evict: true });
    await follower.catchUp({ onto: other });
    const position = follower.positionOf(other);
    if (position) this.#serve({ path: other, position, freshAt: follower.listedAt });
    else this.#detach();
    await this.sharers?.letGo({ evict: true });
  }

  /** True when the served data includes the write at `wanted`. */
  holds(wanted: WritePosition): boolean {
    return servedHolds(this.#served?.position ?? null, wanted, (generation) =>
      Boolean(this.followerOf()?.followedPast(generation)),
    );
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
    this.#file.close();
    this.#served = null;
    this.sharers?.served(this);
  }

  #serve(next: ServedFile) {
    this.#file.attach(next.path);
    this.#served = next;
    for (const waiter of this.#waiters) if (this.holds(waiter.wanted)) waiter.resolve(true);
    this.sharers?.served(this);
  }

  #detach() {
    if (!this.#served) return;
    this.#file.detach();
    this.#served = null;
    this.sharers?.served(this);
  }
}

const sameFilePosition = (a: FilePosition, b: FilePosition) =>
  a.generation === b.generation && a.index === b.index && a.walBytes === b.walBytes;
