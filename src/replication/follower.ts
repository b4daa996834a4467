import { constants, copyFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import { stepExtraMs } from './file-check.ts';
import { litestreamStateDirectory } from './on-disk.ts';
import { openReplicaStore, type ReplicaStore } from './replica-store.ts';
import { listGenerations, NoBackupsError, restoreReplica } from './restore.ts';
import type { ReplicationSettings } from './settings.ts';
import { syncFile, WalFormatError, type WalFrame, WalFrames, writeFrames } from './wal-frames.ts';

/** Following cannot go on from here: the file is restored from the replica again instead. */
export class FollowError extends Error {
  override name = 'FollowError';
}

/**
 * Where a file stands in the replica: the WAL of `generation` applied up to `walBytes` of WAL
 * `index`, always the end of a commit frame (0: the index's frames yet to be applied).
 */
export interface FilePosition {
  generation: string;
  index: number;
  walBytes: number;
}

/** What a follower has brought in: for /ready, logs and the drill. */
export interface FollowPosition extends FilePosition {
  /** Segments read from the replica since the follower started. */
  segments: number;
  /**
   * WAL frames written into the followed files since the follower started: each file takes a
   * frame once (the frames of an index it was restored or copied at, once more).
   */
  framesWritten: number;
  appliedAt: string | null;
  /** The last catch-up that succeeded, whether or not it found anything new. */
  caughtUpAt: string | null;
  /** Restores from the replica since the follower started: 1, plus one per generation change. */
  restores: number;
  /** Where each followed file stands (null: to be copied or restored before its next use). */
  files: Record<string, FilePosition | null>;
}

/**
 * How often, at most, a follower asks Litestream (a process spawned) which generation is newest
 * while the replica names one it has not seen listed: a new primary's, its first snapshot maybe
 * still uploading (~20 s at 1 GB). Soon after it lands, the follower restores from it.
 */
const CONFIRM_EVERY_MS = 2_000;

/** A WAL (and its index) left beside a file would be replayed onto what is written in it next. */
const removeWalBeside = (path: string) =>
  Promise.all([`${path}-wal`, `${path}-shm`].map((leftover) => rm(leftover, { force: true })));

/** An index's name prefix: every segment name of `index` sorts after it, every earlier one before. */
const indexPrefix = (index: number) => index.toString(16).padStart(8, '0');

/**
 * Keeps files at the head of the replica's newest generation, the way `litestream restore`
 * builds one, but incrementally: restored once (and checked), then each WAL segment Litestream
 * ships is read straight from the replica once and applied by SQLite itself to each followed
 * file in turn, so a promotion pays for the last few segments instead of a whole restore
 * (docs/operations.md, "Failover and database size"), and a standby serves reads from one file
 * while the other is brought forward (src/failover/followed-reads.ts). Each frame is checked as
 * it is read (its salts and its checksum, chained from the WAL header on, as SQLite checks a WAL)
 * and each file then takes only the frames new to it, up to the last commit read: their pages
 * written in place as a checkpoint writes them, so a round costs what the primary wrote since
 * the last one, not the whole WAL index again. A file is written only inside catchUp, and
 * nothing may have it open then (it may hold half a round's pages until catchUp resolves).
 */
export class ReplicaFollower {
  /** The first followed file: DATABASE_PATH, which a promotion takes over. */
  readonly path: string;
  readonly #settings: ReplicationSettings;
  readonly #logger: Logger;
  readonly #store: ReplicaStore;
  /**
   * Generations Litestream listed (restorable) no newer than the followed one: a newer one can
   * only have a name not among them.
   */
  #known = new Set<string>();
  #confirmedAt = Number.NEGATIVE_INFINITY;
  /** The replica as read so far: its generation, newest index and that index's length. */
  #head: FilePosition = { generation: '', index: 0, walBytes: 0 };
  /** The WAL of every index some followed file still needs, by index. */
  #wal = new Map<number, WalFrames>();
  #lastSegment: string | null = null;
  /** Each followed file's position; null until it is restored or copied from another. */
  readonly #files = new Map<string, FilePosition | null>();
  #segments = 0;
  #framesWritten = 0;
  #restores = 0;
  #appliedAt: string | null = null;
  #caughtUpAt: string | null = null;
  #listedAt = 0;
  #snapshot: string | null = null;
  /** One operation on the files at a time: a catch-up waits for the one before it. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(settings: ReplicationSettings, logger: Logger, paths: string[]) {
    this.#settings = settings;
    this.#logger = logger;
    this.path = paths[0] as string;
    for (const path of paths) this.#files.set(path, null);
    this.#store = openReplicaStore(settings);
  }

  /**
   * A follower of `path`, restored from the replica, and of `others`, copied from it at once: a
   * copy made by a later round would age the data served meanwhile by its length (seconds at
   * 1 GB). Null when the replica has nothing yet.
   */
  static async start(
    settings: ReplicationSettings,
    logger: Logger,
    path: string,
    others: string[] = [],
  ): Promise<ReplicaFollower | null> {
    const follower = new ReplicaFollower(settings, logger, [path, ...others]);
    try {
      // A listing of the store costs no Litestream process: a standby waiting for a first
      // generation asks every few seconds.
      if ((await follower.#store.generations()).length === 0) throw new NoBackupsError('the replica is empty');
      await follower.#restore(path);
      for (const other of others) await follower.#copyFromAnother(other);
      return follower;
    } catch (error) {
      follower.close();
      if (error instanceof NoBackupsError) return null;
      throw error;
    }
  }

  get generation() {
    return this.#head.generation;
  }

  /**
   * When (epoch ms) the replica was last read up to what the files now hold: the listing before
   * the last segments read, or the start of the last restore.
   */
  get listedAt() {
    return this.#listedAt;
  }

  /** The snapshot the files were last restored from (`generation/index`). */
  get snapshot() {
    return this.#snapshot;
  }

  /** Where a followed file stands now (null: not made yet). */
  positionOf(path: string): FilePosition | null {
    return this.#files.get(path) ?? null;
  }

  /** True for a generation the replica listed before the followed one: everything in it is followed. */
  followedPast(generation: string): boolean {
    return generation !== this.#head.generation && this.#known.has(generation);
  }

  /** DATABASE_PATH was opened for writing (a promotion that did not complete): it is made anew. */
  markTouched() {
    this.#files.set(this.path, null);
  }

  close() {
    this.#store.close();
  }

  describe(): FollowPosition {
    return {
      ...this.#head,
      segments: this.#segments,
      framesWritten: this.#framesWritten,
      appliedAt: this.#appliedAt,
      caughtUpAt: this.#caughtUpAt,
      restores: this.#restores,
      files: Object.fromEntries(this.#files),
    };
  }

  /**
   * Reads what the replica shipped since the last call, then brings `onto` (DATABASE_PATH
   * unless said) to the replica's head: the new WAL applied, or a new restore when a newer
   * generation began (another node took over) or the WAL cannot be followed on. Resolves with
   * what `onto` took, in WAL frames (-1: restored or copied from another followed file).
   * `promoting`: asks Litestream at once about any generation not seen listed yet (otherwise
   * asked at most every CONFIRM_EVERY_MS), and puts the file on disk: the rounds before wrote
   * its pages unsynced, which is safe only while nothing but this follower relies on them.
   */
  catchUp({ promoting = false, onto = this.path } = {}): Promise<number> {
    if (!this.#files.has(onto)) return Promise.reject(new Error(`${onto} is not a followed file`));
    return this.#enqueue(async () => {
      const applied = await this.#catchUp(promoting, onto);
      if (promoting) await syncFile(onto);
      this.#caughtUpAt = new Date().toISOString();
      return applied;
    });
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #catchUp(promoting: boolean, onto: string): Promise<number> {
    if (await this.#newerGeneration(promoting)) {
      this.#logger.info({ generation: this.#head.generation, file: onto }, 'standby: a newer generation began');
      await this.#restore(onto);
      return -1;
    }
    try {
      // A copy first (seconds at 1 GB), so that the segments listed next are the newest.
      const copied = this.#files.get(onto)?.generation !== this.#head.generation;
      if (copied) await this.#copyFromAnother(onto);
      await this.#readNew();
      const taken = await this.#bringToHead(onto);
      return copied ? -1 : taken;
    } catch (error) {
      if (!(error instanceof FollowError)) throw error;
      this.#logger.warn(
        { error: error.message, generation: this.#head.generation },
        'standby: restoring the file again',
      );
      await this.#restore(onto);
      return -1;
    }
  }

  /** Whether Litestream lists a generation newer than the followed one. */
  async #newerGeneration(promoting: boolean): Promise<boolean> {
    const unseen = (await this.#store.generations()).some((name) => !this.#known.has(name));
    if (!unseen || (!promoting && performance.now() - this.#confirmedAt < CONFIRM_EVERY_MS)) return false;
    this.#confirmedAt = performance.now();
    const listed = await listGenerations(this.#settings);
    if (listed.at(-1)?.generation !== this.#head.generation) return true;
    this.#known = new Set(listed.map(({ generation }) => generation));
    return false;
  }

  /** `path` restored from the replica's newest generation: the new head, every other file stale. */
  async #restore(path: string) {
    const listedAt = Date.now();
    const restored = await restoreReplica(this.#settings, { output: path, force: true, logger: this.#logger });
    // State a Litestream of this node's once kept beside the file describes another file now.
    await rm(litestreamStateDirectory(path), { recursive: true, force: true });
    // The restore took the newest of the generations it listed.
    this.#known = new Set(restored.generations.map(({ generation }) => generation));
    // The restored index is read again from its start: applied whole, it ends as the restore left it.
    this.#head = { generation: restored.generation ?? '', index: restored.walIndex ?? 0, walBytes: 0 };
    this.#wal = new Map();
    this.#lastSegment = null;
    this.#snapshot = restored.snapshot;
    this.#restores += 1;
    this.#listedAt = listedAt;
    for (const other of this.#files.keys()) this.#files.set(other, null);
    this.#files.set(path, { ...this.#head });
  }

  /** The segments shipped since the last read, kept for every file that has yet to take them. */
  async #readNew() {
    const head = this.#head;
    const after = this.#lastSegment ?? indexPrefix(head.index);
    const listedAt = Date.now();
    const fresh = await this.#store.segmentsAfter(head.generation, after);
    for (const segment of fresh) {
      if (segment.index !== head.index) {
        // The index before is complete: a WAL index ends only where the next begins.
        if (segment.index !== head.index + 1 || segment.offset !== 0) {
          throw new FollowError(`the replica has no WAL from index ${head.index + 1} offset 0 on (${segment.name})`);
        }
        head.index = segment.index;
        head.walBytes = 0;
      }
      if (segment.offset !== head.walBytes) {
        throw new FollowError(`WAL segment ${segment.name} does not continue at byte ${head.walBytes}`);
      }
      const bytes = await this.#store.read(head.generation, segment);
      const wal = this.#wal.get(head.index) ?? new WalFrames();
      try {
        wal.append(bytes);
      } catch (error) {
        if (!(error instanceof WalFormatError)) throw error;
        throw new FollowError(`WAL segment ${segment.name}: ${error.message}`);
      }
      this.#wal.set(head.index, wal);
      head.walBytes += bytes.length;
      this.#lastSegment = segment.name;
    }
    this.#segments += fresh.length;
    this.#listedAt = listedAt;
  }

  /**
   * `path`, of the head's generation, at the head: the committed frames it has not taken yet,
   * from its position on across the indexes since. Resolves with how many it took.
   */
  async #bringToHead(path: string): Promise<number> {
    const head = this.#head;
    const at = this.#files.get(path);
    if (at?.generation !== head.generation) throw new FollowError(`${path} is not of generation ${head.generation}`);
    let frames: WalFrame[] = [];
    let pageSize = 0;
    let next: FilePosition = at;
    for (let index = at.index; index <= head.index; index++) {
      const wal = this.#wal.get(index);
      if (!wal) continue;
      frames = frames.concat(wal.committedFrom(index === at.index ? at.walBytes : 0));
      pageSize = wal.pageSize;
      next = { generation: head.generation, index, walBytes: wal.committedBytes };
    }
    await this.#apply(path, frames, pageSize);
    this.#files.set(path, next);
    this.#forgetTakenWal();
    return frames.length;
  }

  /** `path` copied from a followed file of the head's generation (a reflink where the file system can). */
  async #copyFromAnother(path: string): Promise<FilePosition> {
    const source = [...this.#files].find(
      ([other, position]) => other !== path && position?.generation === this.#head.generation,
    );
    if (!source) throw new FollowError(`no followed file holds generation ${this.#head.generation}`);
    await removeWalBeside(path);
    await copyFile(source[0], path, constants.COPYFILE_FICLONE);
    const at = { ...(source[1] as FilePosition) };
    this.#files.set(path, at);
    return at;
  }

  /** Drops the WAL of indexes every followed file has passed. */
  #forgetTakenWal() {
    const { generation } = this.#head;
    const needed = [...this.#files.values()]
      .filter((position) => position?.generation === generation)
      .map((position) => (position as FilePosition).index);
    const oldest = Math.min(...needed);
    for (const index of this.#wal.keys()) if (index < oldest) this.#wal.delete(index);
  }

  /**
   * Writes `frames` into `path`, which counts as unmade until they all are: a write that fails
   * midway leaves a file to be copied again. A `-wal` left beside it (a promotion that did not
   * complete) would be replayed over these pages by the next opener: it goes first.
   */
  async #apply(path: string, frames: WalFrame[], pageSize: number) {
    if (frames.length === 0) return;
    this.#files.set(path, null);
    await removeWalBeside(path);
    await writeFrames(path, frames, pageSize);
    const extraMs = stepExtraMs();
    if (extraMs > 0) await sleep(extraMs);
    this.#framesWritten += frames.length;
    this.#appliedAt = new Date().toISOString();
    this.#logger.debug({ file: path, frames: frames.length }, 'standby: applied WAL');
  }
}
