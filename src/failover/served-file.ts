import { type Db, openDatabase } from '../db/client.ts';
import type { ServedFile } from '../host/host.ts';
import type { FilePosition } from '../replication/follower.ts';
import { holds, type WritePosition } from './positions.ts';

/** The schema name the served file is attached under: unqualified table names resolve to it. */
const SERVED_SCHEMA = 'followed';

/**
 * A connection that reads one file at a time: an empty in-memory database, `query_only`, with
 * the file ATTACHed under one schema name that unqualified table names resolve to. Another file
 * takes its place in one turn of the event loop: DETACH waits for no reader (better-sqlite3
 * runs each statement to its end synchronously) and SQLite prepares each cached statement again
 * for the new file, so an app built on `db`, its plans and its prepared statements outlive
 * every swap. A standby's writer (FollowedReads) and each of its read workers read through one.
 */
export class AttachedFile {
  readonly db: Db;
  #path: string | null = null;

  constructor() {
    this.db = openDatabase(':memory:');
    this.db.$client.pragma('query_only = ON');
  }

  /** The file attached now, or null. */
  get path(): string | null {
    return this.#path;
  }

  /** `path` attached in place of the file before it (if any). */
  attach(path: string): void {
    this.detach();
    this.db.$client.prepare(`attach database ? as ${SERVED_SCHEMA}`).run(path);
    this.#path = path;
  }

  /** Nothing attached: this process no longer has the file open. */
  detach(): void {
    if (this.#path === null) return;
    this.db.$client.exec(`detach database ${SERVED_SCHEMA}`);
    this.#path = null;
  }

  close(): void {
    this.db.$client.close();
    this.#path = null;
  }
}

/** How old the served data is, in ms (null: nothing served). */
export function lagOf(served: ServedFile | null, now = Date.now()): number | null {
  return served ? Math.max(0, now - served.freshAt) : null;
}

/**
 * True when data at `position` includes the write at `wanted`. A write of another generation is
 * held only if `followedPast` says that generation ended before the followed one began.
 */
export function servedHolds(
  position: FilePosition | null,
  wanted: WritePosition,
  followedPast: (generation: string) => boolean = () => false,
): boolean {
  if (!position) return false;
  if (position.generation !== wanted.generation) return followedPast(wanted.generation);
  return holds({ ...position, offset: position.walBytes }, wanted);
}
