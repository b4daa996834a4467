import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressFrameSync } from 'lz4-napi';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { ReplicaFollower } from '../../src/replication/follower.ts';
import { WAL_FRAME_HEADER_BYTES } from '../../src/replication/on-disk.ts';
import { contentOf, JWT_SECRET, settingsOf } from '../replication/support.ts';

/**
 * The follower's decisions, one at a time, on a directory replica laid out as Litestream 0.3.13
 * lays one out (`generations/<gen>/snapshots/<index>.snapshot.lz4`, `wal/<index>_<offset>.wal.lz4`)
 * but shipped by the test, segment by segment, from a WAL real SQLite wrote: which segments
 * exist when is the test's to say, where test/replication/follower.test.ts follows a running
 * Litestream. No server; the follower's restores run the real Litestream binary on this replica.
 */

/** What the followers said, one parsed line each: why a file was restored again. */
const logged: { msg: string; error?: string }[] = [];
const logger = pino(
  { level: 'warn' },
  { write: (line: string) => logged.push(JSON.parse(line) as { msg: string; error?: string }) },
);
const PAGE_SIZE = 4096;
const FRAME_BYTES = WAL_FRAME_HEADER_BYTES + PAGE_SIZE;
const hex = (n: number) => n.toString(16).padStart(8, '0');

/** A primary that never checkpoints by itself, and a replica the test ships its WAL into. */
class Shipping {
  readonly dir = mkdtempSync(join(tmpdir(), 'follower-unit-'));
  readonly primaryPath = join(this.dir, 'primary.db');
  readonly followedPath = join(this.dir, 'followed.db');
  readonly replicaDir = join(this.dir, 'replica');
  readonly settings = settingsOf({
    DATABASE_PATH: this.primaryPath,
    JWT_SECRET,
    REPLICATION: 'on',
    REPLICA_URL: this.replicaDir,
  });
  readonly primary: Db;
  generation = '';
  /** The WAL index being shipped, and how many of its bytes are in the replica. */
  index = 0;
  shipped = 0;
  /** What the primary read as after each commit shipped, by the shipped length. */
  #rows = 0;

  constructor() {
    this.primary = openDatabase(this.primaryPath, { replicating: true });
    applyMigrations(this.primary);
    this.primary.$client.exec('create table filler (id integer primary key, bytes blob)');
  }

  /** `rows` rows of ~1 KB in one transaction, an update and a delete: the WAL moves on. */
  write(rows: number) {
    const sqlite = this.primary.$client;
    const insert = sqlite.prepare('insert into filler (bytes) values (randomblob(1000))');
    sqlite.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run();
      this.#rows += rows;
      sqlite.prepare('update filler set bytes = randomblob(500) where id % 7 = ?').run(this.#rows % 7);
      sqlite.prepare('delete from filler where id % 11 = ?').run(this.#rows % 11);
    })();
  }

  wal(): Buffer {
    try {
      return readFileSync(`${this.primaryPath}-wal`);
    } catch {
      return Buffer.alloc(0);
    }
  }

  /**
   * A new generation, as Litestream begins one: the WAL checkpointed into the file, the file as
   * its snapshot at index 0, the WAL of index 0 to follow. Older generations' files are dated a
   * minute back, so `litestream generations` lists this one last.
   */
  begin(generation: string) {
    for (const old of this.#files()) utimesSync(old, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    this.primary.$client.pragma('wal_checkpoint(TRUNCATE)');
    this.generation = generation;
    this.index = 0;
    this.shipped = 0;
    const snapshots = join(this.replicaDir, 'generations', generation, 'snapshots');
    mkdirSync(snapshots, { recursive: true });
    mkdirSync(join(this.replicaDir, 'generations', generation, 'wal'), { recursive: true });
    writeFileSync(join(snapshots, `${hex(0)}.snapshot.lz4`), compressFrameSync(readFileSync(this.primaryPath)));
  }

  /** The WAL written since the last segment, up to byte `end` of it, as one segment. */
  ship(end = this.wal().length) {
    if (end <= this.shipped) return;
    writeFileSync(
      this.segmentPath(this.index, this.shipped),
      compressFrameSync(this.wal().subarray(this.shipped, end)),
    );
    this.shipped = end;
  }

  /** The WAL shipped whole, checkpointed, and the next index begun (as Litestream does after a checkpoint). */
  nextIndex() {
    this.ship();
    this.primary.$client.pragma('wal_checkpoint(TRUNCATE)');
    this.index += 1;
    this.shipped = 0;
  }

  segmentPath(index: number, offset: number) {
    return join(this.replicaDir, 'generations', this.generation, 'wal', `${hex(index)}_${hex(offset)}.wal.lz4`);
  }

  #files(): string[] {
    const root = join(this.replicaDir, 'generations');
    try {
      return readdirSync(root, { recursive: true, encoding: 'utf8' })
        .map((name) => join(root, name))
        .filter((path) => statSync(path).isFile());
    } catch {
      return [];
    }
  }

  follow(others: string[] = []) {
    return ReplicaFollower.start(this.settings, logger, this.followedPath, others);
  }

  close() {
    this.primary.$client.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('a replica follower, segment by segment', () => {
  let replica: Shipping | null = null;
  let follower: ReplicaFollower | null = null;

  const start = async () => {
    replica = new Shipping();
    replica.write(20);
    replica.begin('a000000000000001');
    replica.write(30);
    replica.ship();
    follower = await replica.follow();
    if (!follower) throw new Error('the replica holds a generation');
    return { replica, follower };
  };

  afterEach(() => {
    follower?.close();
    follower = null;
    replica?.close();
    replica = null;
  });

  it('is not started on an empty replica', async () => {
    replica = new Shipping();
    expect(await replica.follow()).toBeNull();
  });

  it('applies each new segment, and writes nothing when none came', async () => {
    const { replica, follower } = await start();
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
    // The restored index is read again from its start: its frames come in once more, then never.
    const again = await follower.catchUp();
    expect(again).toBeGreaterThan(0);
    expect(await follower.catchUp()).toBe(0);
    const { framesWritten } = follower.describe();

    replica.write(40);
    replica.ship();
    const taken = await follower.catchUp();
    expect(taken).toBeGreaterThan(40 / 4);
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
    expect(follower.describe()).toMatchObject({
      generation: 'a000000000000001',
      index: 0,
      walBytes: replica.shipped,
      framesWritten: framesWritten + taken,
      restores: 1,
    });
    expect(follower.positionOf(replica.followedPath)).toEqual({
      generation: 'a000000000000001',
      index: 0,
      walBytes: replica.shipped,
    });
    const modified = statSync(replica.followedPath).mtimeMs;
    expect(await follower.catchUp()).toBe(0);
    expect(statSync(replica.followedPath).mtimeMs).toBe(modified);
  });

  it('takes a transaction only once its commit frame is shipped', async () => {
    const { replica, follower } = await start();
    await follower.catchUp();
    const before = contentOf(replica.followedPath);
    const from = replica.wal().length;
    replica.write(40);
    // Frames cut at SQLite's default page size.
    expect(replica.wal().readUInt32BE(8)).toBe(PAGE_SIZE);
    const frames = (replica.wal().length - from) / FRAME_BYTES;
    expect(frames).toBeGreaterThan(2);
    // The first two frames of a transaction: no commit among them.
    replica.ship(from + 2 * FRAME_BYTES);
    expect(await follower.catchUp()).toBe(0);
    expect(contentOf(replica.followedPath)).toBe(before);
    expect(follower.positionOf(replica.followedPath)?.walBytes).toBe(from);
    replica.ship();
    expect(await follower.catchUp()).toBe(frames);
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
  });

  it('goes on into the next WAL index once the one before ends', async () => {
    const { replica, follower } = await start();
    await follower.catchUp();
    replica.write(10);
    replica.nextIndex();
    replica.write(25);
    replica.ship();
    expect(await follower.catchUp()).toBeGreaterThan(0);
    expect(follower.describe()).toMatchObject({ index: 1, walBytes: replica.shipped, restores: 1 });
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
  });

  it('refuses a gap in the WAL: it restores rather than apply past it, and follows on once the gap is filled', async () => {
    const { replica, follower } = await start();
    await follower.catchUp();
    const atGap = replica.shipped;
    replica.write(10);
    const missing = replica.segmentPath(0, atGap);
    replica.ship();
    const late = readFileSync(missing);
    rmSync(missing);
    const beforeGap = contentOf(replica.followedPath);
    replica.write(10);
    replica.ship();

    // The segment after the gap does not continue at the byte the follower stands at.
    logged.length = 0;
    expect(await follower.catchUp()).toBe(-1);
    expect(logged).toContainEqual(
      expect.objectContaining({
        msg: 'standby: restoring the file again',
        error: expect.stringMatching(/^WAL segment 00000000_[0-9a-f]{8}\.wal\.lz4 does not continue at byte \d+$/),
      }),
    );
    expect(follower.describe().restores).toBe(2);
    expect(contentOf(replica.followedPath)).toBe(beforeGap);
    expect(contentOf(replica.followedPath)).not.toBe(contentOf(replica.primaryPath));

    // The missing segment lands late: the index is read again from its start, whole.
    writeFileSync(missing, late);
    expect(await follower.catchUp()).toBeGreaterThan(0);
    expect(follower.describe()).toMatchObject({ restores: 2, walBytes: replica.shipped });
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
  });

  it('refuses a WAL index that does not follow the one before, as Litestream does, and follows on once it lands', async () => {
    const { replica, follower } = await start();
    await follower.catchUp();
    replica.nextIndex();
    // Index 1 is written and checkpointed, but not shipped (yet).
    replica.write(10);
    const missing = { path: replica.segmentPath(1, 0), bytes: compressFrameSync(replica.wal()) };
    replica.nextIndex();
    rmSync(missing.path);
    replica.write(10);
    replica.ship();
    const before = contentOf(replica.followedPath);
    const position = follower.positionOf(replica.followedPath);

    // The follower refuses index 2 and restores; Litestream refuses the same replica.
    logged.length = 0;
    await expect(follower.catchUp()).rejects.toThrow(/missing WAL index: a000000000000001\/00000001/);
    expect(logged).toContainEqual(
      expect.objectContaining({ error: 'the replica has no WAL from index 1 offset 0 on (00000002_00000000.wal.lz4)' }),
    );
    expect(contentOf(replica.followedPath)).toBe(before);
    expect(follower.positionOf(replica.followedPath)).toEqual(position);

    writeFileSync(missing.path, missing.bytes);
    expect(await follower.catchUp()).toBeGreaterThan(0);
    expect(follower.describe()).toMatchObject({ index: 2, walBytes: replica.shipped, restores: 1 });
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
  });

  it('restores from a newer generation once one begins, and counts the old one as followed past', async () => {
    const { replica, follower } = await start();
    await follower.catchUp();
    replica.write(15);
    replica.ship();
    replica.begin('b000000000000002');
    replica.write(5);
    replica.ship();
    expect(await follower.catchUp({ promoting: true })).toBe(-1);
    expect(follower.generation).toBe('b000000000000002');
    expect(follower.followedPast('a000000000000001')).toBe(true);
    expect(follower.followedPast('b000000000000002')).toBe(false);
    expect(follower.snapshot).toBe('b000000000000002/0');
    expect(follower.describe()).toMatchObject({ restores: 2, index: 0 });
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
    // From there on, the new generation's segments.
    replica.write(5);
    replica.ship();
    expect(await follower.catchUp()).toBeGreaterThan(0);
    expect(contentOf(replica.followedPath)).toBe(contentOf(replica.primaryPath));
  });

  it('brings a second followed file forward on its own, from where it stands', async () => {
    replica = new Shipping();
    replica.write(20);
    replica.begin('a000000000000001');
    replica.write(10);
    replica.ship();
    const twin = join(replica.dir, 'twin.db');
    follower = await replica.follow([twin]);
    if (!follower) throw new Error('the replica holds a generation');
    await follower.catchUp();
    await follower.catchUp({ onto: twin });
    replica.write(30);
    replica.ship();
    const onto = await follower.catchUp();
    expect(onto).toBeGreaterThan(0);
    // The twin has not taken them yet; then takes the same frames, once.
    expect(contentOf(twin)).not.toBe(contentOf(replica.primaryPath));
    expect(await follower.catchUp({ onto: twin })).toBe(onto);
    expect(await follower.catchUp({ onto: twin })).toBe(0);
    expect(contentOf(twin)).toBe(contentOf(replica.primaryPath));
    await expect(follower.catchUp({ onto: join(replica.dir, 'other.db') })).rejects.toThrow('is not a followed file');
  });
});
