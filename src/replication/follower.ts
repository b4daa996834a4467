import { constants, copyFile, rm, writeFile } from 'node:fs/promises';
import type { Logger } from '../logger.ts';
import { runPragmaOffThread } from './file-check.ts';
import { litestreamStateDirectory, WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES, walPageSize } from './on-disk.ts';
import { openReplicaStore, type ReplicaStore, type Segment } from './replica-store.ts';
import { listGenerations, NoBackupsError, restoreReplica } from './restore.ts';
import type { ReplicationSettings } from './settings.ts';

/** Following cannot go on from here: the file is restored from the replica again instead. */
export class FollowError extends Error {
  override name = 'FollowError';
}

/** What a follower has brought in: for /ready, logs and the drill. */
export interface FollowPosition {
  generation: string;
  /** The WAL index being followed, and how many of its bytes are applied. */
  index: number;
  walBytes: number;
  /** Segments applied since the file was restored. */
  segments: number;
  appliedAt: string | null;
  /** The last catch-up that succeeded, whether or not it found anything new. */
  caughtUpAt: string | null;
  /** Restores of the file since the follower started: 1, plus one per generation change. */
  restores: number;
}

/**
 * How often, at most, a follower asks Litestream (a process spawned) which generation is newest
 * while the replica names one it has not seen listed: a new primary's, its first snapshot maybe
 * still uploading (~20 s at 1 GB). Soon after it lands, the follower restores from it.
 */
const CONFIRM_EVERY_MS = 2_000;

/** An index's name prefix: every segment name of `index` sorts after it, every earlier one before. */
const indexPrefix = (index: number) => index.toString(16).padStart(8, '0');

/**
 * Keeps a file at the head of the replica's newest generation, the way `litestream restore`
 * builds it, but incrementally: restored once (and checked), then each WAL segment Litestream
 * ships is read straight from the replica and applied by SQLite itself, so a promotion pays for
 * the last few segments instead of a whole restore (docs/operations.md, "Failover and database
 * size"). A WAL is valid only from its header, so the index being written is applied again from
 * its start each time it grows: its pages end as its last commit left them. SQLite checks each
 * frame's checksum as it reads the WAL. Nothing else may open the file while it is followed.
 */
export class ReplicaFollower {
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
  #generation = '';
  #index = 0;
  /** The followed index's WAL so far, segment by segment, and the last segment's name. */
  #wal: Buffer[] = [];
  #walBytes = 0;
  #lastSegment: string | null = null;
  #segments = 0;
  #restores = 0;
  #appliedAt: string | null = null;
  #caughtUpAt: string | null = null;
  #snapshot: string | null = null;
  /** Set when the file was opened for writing (a promotion that failed): it is restored anew. */
  #touched = false;
  /** One operation on the file at a time: a catch-up waits for the one before it. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(settings: ReplicationSettings, logger: Logger, path: string) {
    this.#settings = settings;
    this.#logger = logger;
    this.path = path;
    this.#store = openReplicaStore(settings);
  }

  /** A follower of `path`, restored from the replica; null when the replica has nothing yet. */
  static async start(settings: ReplicationSettings, logger: Logger, path: string): Promise<ReplicaFollower | null> {
    const follower = new ReplicaFollower(settings, logger, path);
    try {
      // A listing of the store costs no Litestream process: a standby waiting for a first
      // generation asks every few seconds.
      if ((await follower.#store.generations()).length === 0) throw new NoBackupsError('the replica is empty');
      await follower.#restore();
      return follower;
    } catch (error) {
      follower.close();
      if (error instanceof NoBackupsError) return null;
      throw error;
    }
  }

  get generation() {
    return this.#generation;
  }

  /** The snapshot the file was last restored from (`generation/index`). */
  get snapshot() {
    return this.#snapshot;
  }

  /** The file was opened for writing (a promotion that did not complete): restore it next time. */
  markTouched() {
    this.#touched = true;
  }

  /** A copy of the file as it stands between two catch-ups (a reflink where the file system can). */
  copyTo(path: string): Promise<void> {
    return this.#enqueue(async () => {
      // A WAL left beside an older copy would be replayed onto this one.
      for (const leftover of [`${path}-wal`, `${path}-shm`]) await rm(leftover, { force: true });
      await copyFile(this.path, path, constants.COPYFILE_FICLONE);
    });
  }

  close() {
    this.#store.close();
  }

  describe(): FollowPosition {
    return {
      generation: this.#generation,
      index: this.#index,
      walBytes: this.#walBytes,
      segments: this.#segments,
      appliedAt: this.#appliedAt,
      caughtUpAt: this.#caughtUpAt,
      restores: this.#restores,
    };
  }

  /**
   * Brings the file to the replica's newest generation's head: the segments shipped since the
   * last call, or a new restore when a newer generation began (another node took over) or the
   * WAL cannot be followed on. Resolves with what it applied, in segments (-1: restored).
   * `promoting`: asks Litestream at once about any generation not seen listed yet; otherwise
   * that is asked at most every CONFIRM_EVERY_MS.
   */
  catchUp({ promoting = false } = {}): Promise<number> {
    return this.#enqueue(async () => {
      const applied = await this.#catchUp(promoting);
      this.#caughtUpAt = new Date().toISOString();
      return applied;
    });
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #catchUp(promoting: boolean): Promise<number> {
    const newer = await this.#newerGeneration(promoting);
    if (newer || this.#touched) {
      const why = newer ? 'a newer generation began' : 'the file was opened for writing';
      this.#logger.info({ generation: this.#generation, why }, 'standby: restoring the followed file');
      await this.#restore();
      return -1;
    }
    try {
      return await this.#applyNew();
    } catch (error) {
      if (!(error instanceof FollowError)) throw error;
      this.#logger.warn({ error: error.message, generation: this.#generation }, 'standby: restoring the file again');
      await this.#restore();
      return -1;
    }
  }

  /** Whether Litestream lists a generation newer than the followed one. */
  async #newerGeneration(promoting: boolean): Promise<boolean> {
    const unseen = (await this.#store.generations()).some((name) => !this.#known.has(name));
    if (!unseen || (!promoting && performance.now() - this.#confirmedAt < CONFIRM_EVERY_MS)) return false;
    this.#confirmedAt = performance.now();
    const listed = await listGenerations(this.#settings);
    if (listed.at(-1)?.generation !== this.#generation) return true;
    this.#known = new Set(listed.map(({ generation }) => generation));
    return false;
  }

  async #restore() {
    const restored = await restoreReplica(this.#settings, { output: this.path, force: true, logger: this.#logger });
    // State a Litestream of this node's once kept beside the file describes another file now.
    await rm(litestreamStateDirectory(this.path), { recursive: true, force: true });
    // The restore took the newest of the generations it listed.
    this.#known = new Set(restored.generations.map(({ generation }) => generation));
    this.#generation = restored.generation ?? '';
    this.#index = restored.walIndex ?? 0;
    this.#wal = [];
    this.#walBytes = 0;
    this.#lastSegment = null;
    this.#snapshot = restored.snapshot;
    this.#touched = false;
    this.#restores += 1;
  }

  async #applyNew(): Promise<number> {
    const after = this.#lastSegment ?? indexPrefix(this.#index);
    const fresh = await this.#store.segmentsAfter(this.#generation, after);
    for (const [position, segment] of fresh.entries()) {
      if (segment.index !== this.#index) {
        // The index before is complete: a WAL index ends only where the next begins.
        if (segment.index !== this.#index + 1 || segment.offset !== 0) {
          throw new FollowError(`the replica has no WAL from index ${this.#index + 1} offset 0 on (${segment.name})`);
        }
        this.#index = segment.index;
        this.#wal = [];
        this.#walBytes = 0;
      }
      if (segment.offset !== this.#walBytes) {
        throw new FollowError(`WAL segment ${segment.name} does not continue at byte ${this.#walBytes}`);
      }
      const bytes = await this.#store.read(this.#generation, segment);
      this.#wal.push(bytes);
      this.#walBytes += bytes.length;
      this.#lastSegment = segment.name;
      // Applied whenever its index is complete, and at the end: the newest state either way.
      const nextIndex = fresh[position + 1]?.index;
      if (nextIndex === undefined || nextIndex !== segment.index) await this.#apply(segment);
    }
    this.#segments += fresh.length;
    return fresh.length;
  }

  /**
   * Has SQLite replay the followed index's WAL into the file: written as the file's `-wal`, then
   * checkpointed whole (off the event loop; FULL reports the frames it took, where TRUNCATE
   * reports the emptied WAL's 0), and removed as the connection closes. Litestream ships whole
   * transactions only: a frame SQLite refuses (a bad checksum, a commit missing) means damage.
   */
  async #apply(last: Segment) {
    const wal = Buffer.concat(this.#wal);
    const frameBytes = WAL_FRAME_HEADER_BYTES + walPageSize(wal.subarray(0, WAL_HEADER_BYTES));
    const frames = (wal.length - WAL_HEADER_BYTES) / frameBytes;
    if (!Number.isInteger(frames)) throw new FollowError(`WAL index ${this.#index} ends inside a frame`);
    await rm(`${this.path}-shm`, { force: true });
    await writeFile(`${this.path}-wal`, wal);
    const reply = await runPragmaOffThread(this.path, 'wal_checkpoint(FULL)');
    if ('error' in reply) throw new FollowError(`applying WAL index ${this.#index} failed: ${reply.error}`);
    const [result] = reply.rows as { busy: number; log: number; checkpointed: number }[];
    if (result?.busy !== 0 || result.checkpointed !== result.log) {
      throw new FollowError(`WAL index ${this.#index} was not checkpointed whole: ${JSON.stringify(result)}`);
    }
    if (result.log !== frames) {
      throw new FollowError(`WAL index ${this.#index} holds ${frames} frames but only ${result.log} are valid`);
    }
    this.#appliedAt = new Date().toISOString();
    this.#logger.debug({ index: this.#index, segment: last.name, frames: result.log }, 'standby: applied WAL');
  }
}
