import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { ReplicaFollower } from '../../src/replication/follower.ts';
import { litestreamStateDirectory, WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES } from '../../src/replication/on-disk.ts';
import { type Replication, startReplication } from '../../src/replication/primary.ts';
import { restoreReplica } from '../../src/replication/restore.ts';
import {
  contentOf,
  eventually,
  type ReplicaKind,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  settingsOf,
} from './support.ts';

/**
 * A standby's follower against a real Litestream 0.3.13 replicating a real primary file to a
 * directory and to a real S3-compatible server: the followed file must be what a fresh
 * `litestream restore` gives, across WAL indexes, generations and damage.
 */

const s3 = s3ForThisFile({ restoresInThisProcess: true });

const logger = pino({ level: 'silent' });
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A primary file in a fresh sandbox, replicated by a real Litestream every 100 ms. */
async function replicatedPrimary(kind: ReplicaKind) {
  const box = sandbox(kind, s3, { REPLICA_SYNC_INTERVAL: '100ms', REPLICA_MONITOR_INTERVAL: '100ms' });
  const config = settingsOf(box.env);
  const primary = openDatabase(config.databasePath, { replicating: true });
  applyMigrations(primary);
  primary.$client.exec('create table filler (id integer primary key, bytes blob)');
  return { box, config, primary, replication: await startReplication(config, logger) };
}

/** A follower of the replica into `path`, once the replica holds a generation. */
const followerOf = (config: ReturnType<typeof settingsOf>, path: string) =>
  eventually(async () => (await ReplicaFollower.start(config, logger, path)) ?? undefined, 10_000, 'a generation');

describe.each<ReplicaKind>(['directory', 's3'])('a follower of a %s replica', (kind) => {
  let box: Sandbox;
  let primary: Db;
  let replication: Replication | null = null;
  let follower: ReplicaFollower | null = null;
  let rows = 0;

  const config = () => settingsOf(box.env);
  const primaryPath = () => config().databasePath;
  const followedPath = () => join(box.dir, 'followed.db');

  async function startPrimary() {
    ({ box, primary, replication } = await replicatedPrimary(kind));
  }

  /** About `kb` KB in one transaction, plus an update and a delete: the WAL moves on. */
  function write(kb: number) {
    const insert = primary.$client.prepare('insert into filler (bytes) values (randomblob(1000))');
    primary.$client.transaction(() => {
      for (let i = 0; i < kb; i++) insert.run();
      rows += kb;
      primary.$client.prepare('update filler set bytes = randomblob(500) where id % 11 = ?').run(rows % 11);
      primary.$client.prepare('delete from filler where id % 13 = ?').run(rows % 13);
    })();
  }

  /**
   * Caught up once the followed file reads as the primary does (Litestream ships within ~100 ms).
   * `promoting`: a generation not seen listed yet is looked up at once, as a promotion does.
   */
  const caughtUp = (promoting = false) =>
    eventually(
      async () => {
        await follower?.catchUp({ promoting });
        return contentOf(followedPath()) === contentOf(primaryPath()) ? true : undefined;
      },
      20_000,
      'the followed file to match the primary',
    );

  afterEach(async () => {
    follower?.close();
    follower = null;
    await replication?.stop();
    replication = null;
    primary?.$client.close();
    box?.cleanup();
  });

  it('builds, segment by segment and across WAL indexes, the file a fresh restore gives', async () => {
    await startPrimary();
    write(300);
    follower = await followerOf(config(), followedPath());
    // ~4 MB of WAL makes Litestream checkpoint and start the next WAL index.
    for (let round = 0; round < 8; round++) {
      write(round % 2 === 0 ? 900 : 150);
      await sleep(250);
      await follower?.catchUp();
    }
    await caughtUp();
    const position = follower?.describe();
    expect(position).toMatchObject({ restores: 1, caughtUpAt: expect.any(String) });
    expect(position?.index).toBeGreaterThanOrEqual(1);
    expect(position?.segments).toBeGreaterThanOrEqual(8);

    const restored = join(box.dir, 'restored.db');
    await restoreReplica(config(), { output: restored, logger });
    expect(sha256(followedPath())).toBe(sha256(restored));
    const check = new Database(followedPath(), { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  });

  it('restores from a newer generation when one begins', async () => {
    await startPrimary();
    write(100);
    follower = await followerOf(config(), followedPath());
    const first = follower.generation;
    await caughtUp();
    // Litestream starts a new generation when it finds no state of its own beside the file.
    await replication?.stop();
    rmSync(litestreamStateDirectory(primaryPath()), { recursive: true, force: true });
    // Litestream lists when a generation began in whole seconds: this one begins a second later.
    await sleep(1100);
    write(100);
    replication = await startReplication(config(), logger);
    await caughtUp(true);
    expect(follower.generation).not.toBe(first);
    expect(follower.describe()).toMatchObject({ restores: 2 });
  });
});

describe('a follower of a directory replica', () => {
  let box: Sandbox;
  let primary: Db | null = null;
  let replication: Replication | null = null;
  let follower: ReplicaFollower | null = null;

  /** A primary file replicated by a real Litestream, and a follower of it (into a twin too). */
  async function start({ withTwin = false } = {}) {
    const started = await replicatedPrimary('directory');
    ({ box, primary, replication } = started);
    const path = join(box.dir, 'followed.db');
    const twin = join(box.dir, 'twin.db');
    follower = await eventually(
      async () => (await ReplicaFollower.start(started.config, logger, path, withTwin ? [twin] : [])) ?? undefined,
      10_000,
      'a generation',
    );
    return {
      follower,
      path,
      twin,
      primary: started.primary,
      generations: join(started.config.replicaUrl, 'generations'),
    };
  }

  /** The WAL frames of a generation's segments in the replica, as Litestream shipped them. */
  function shippedFrames(walDirectory: string) {
    let frames = 0;
    for (const name of readdirSync(walDirectory)) {
      const wal = decompressFrameSync(readFileSync(join(walDirectory, name)));
      const headerBytes = name.endsWith('_00000000.wal.lz4') ? WAL_HEADER_BYTES : 0;
      frames += (wal.length - headerBytes) / (WAL_FRAME_HEADER_BYTES + 4096);
    }
    return frames;
  }

  afterEach(async () => {
    follower?.close();
    await replication?.stop();
    primary?.$client.close();
    [follower, replication, primary] = [null, null, null];
    box?.cleanup();
  });

  it('that sees a generation before its first snapshot is in still restores from it once it is', async () => {
    const { follower, generations } = await start();
    const first = join(generations, follower.generation);
    // A new primary's generation, its snapshot not uploaded yet: named, but not restorable.
    const next = join(generations, 'feedfacefeedface');
    mkdirSync(join(next, 'snapshots'), { recursive: true });
    expect(await follower.catchUp({ promoting: true })).not.toBe(-1);
    // Its snapshot arrives (a copy of the first generation's files, newer by their times).
    await replication?.stop();
    replication = null;
    cpSync(first, next, { recursive: true });
    expect(await follower.catchUp({ promoting: true })).toBe(-1);
    expect(follower.generation).toBe('feedfacefeedface');
  });

  it('writes each shipped frame into each followed file once, however often the WAL index grows', async () => {
    const { follower, path, twin, primary, generations } = await start({ withTwin: true });
    const insert = primary.$client.prepare('insert into filler (bytes) values (randomblob(3000))');
    for (let round = 0; round < 24; round++) {
      insert.run();
      // Past Litestream's sync interval: each round finds about one new segment.
      await sleep(150);
      await follower.catchUp({ onto: round % 2 === 0 ? path : twin });
    }
    await replication?.stop();
    replication = null;
    for (const onto of [path, twin]) await follower.catchUp({ onto });

    const shipped = shippedFrames(join(generations, follower.generation, 'wal'));
    const { framesWritten, index } = follower.describe();
    // One WAL index throughout: replayed from its start each round, it would be written ~12 times.
    expect(index).toBe(0);
    expect(framesWritten).toBeGreaterThan(0);
    expect(framesWritten).toBeLessThanOrEqual(2 * shipped);
    for (const file of [path, twin]) {
      expect(contentOf(file)).toBe(contentOf(settingsOf(box.env).databasePath));
      const check = new Database(file, { readonly: true });
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      check.close();
    }
  });

  it('refuses a damaged segment and restores the file instead', async () => {
    const { follower, primary, generations } = await start();
    const walDirectory = join(generations, follower.generation, 'wal');
    const before = new Set(readdirSync(walDirectory));
    primary.$client.prepare('insert into filler (bytes) values (randomblob(3000))').run();
    const fresh = await eventually(
      async () => readdirSync(walDirectory).find((name) => !before.has(name)),
      10_000,
      'a new segment',
    );
    // One byte of the last frame's page flipped: its checksum no longer holds.
    const segment = join(walDirectory, fresh);
    const wal = decompressFrameSync(readFileSync(segment));
    wal[wal.length - 100] = (wal[wal.length - 100] ?? 0) ^ 0xff;
    writeFileSync(segment, compressFrameSync(wal));

    expect(await follower.catchUp()).toBe(-1);
    expect(follower.describe()).toMatchObject({ restores: 2 });
  });
});
