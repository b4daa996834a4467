import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { type Replication, startReplication } from '../../src/replication/primary.ts';
import { parseSegmentName } from '../../src/replication/replica-store.ts';
import { restoreReplica } from '../../src/replication/restore.ts';
import { WalReader } from '../../src/replication/wal.ts';
import { eventually, type Sandbox, sandbox, settingsOf } from './support.ts';

/**
 * Litestream 0.3.13 checkpoints (PASSIVE, its read lock let go) while the application writes,
 * then snapshots the file and files the snapshot under the WAL position it had copied: the
 * snapshot can hold pages of frames past that position. Until the next sync ships those frames,
 * the replica's head restores to newer pages beside older ones (the failover drill's "wrong # of
 * entries in index"). That replica state is built here exactly, from a real Litestream's replica:
 * its snapshot replaced by the file as it stood later, the WAL segments since held back.
 */

let box: Sandbox | undefined;
let primary: Db | undefined;
let replication: Replication | null = null;

afterEach(async () => {
  await replication?.stop();
  primary?.$client.close();
  box?.cleanup();
  [box, primary, replication] = [undefined, undefined, null];
});

/** Every row of the indexed table, in order. */
function rowsOf(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('select * from hot order by id').raw().all();
  } finally {
    db.close();
  }
}

/** WAL bytes of index 0 in the replica: where its last segment ends. */
function shippedBytes(walDirectory: string): number {
  let end = 0;
  for (const name of existsSync(walDirectory) ? readdirSync(walDirectory) : []) {
    const segment = parseSegmentName(name);
    if (segment?.index !== 0) continue;
    end = Math.max(end, segment.offset + decompressFrameSync(readFileSync(join(walDirectory, name))).length);
  }
  return end;
}

it('restores the head of a generation again when its snapshot is ahead of the WAL shipped so far', async () => {
  box = sandbox('directory', undefined, { REPLICA_SYNC_INTERVAL: '100ms', REPLICA_MONITOR_INTERVAL: '100ms' });
  const config = settingsOf(box.env);
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
  primary = openDatabase(config.databasePath, { replicating: true });
  applyMigrations(primary);
  const sqlite = primary.$client;
  sqlite.exec('create table hot (id integer primary key, k text not null, v blob not null)');
  sqlite.exec('create index hot_k on hot (k)');
  const insert = sqlite.prepare('insert into hot (k, v) values (?, randomblob(200))');
  let rows = 0;
  /** Rows in transactions of two, their keys in one part of the index (the table's end is shared). */
  const write = (transactions: number, prefix: string) => {
    for (let t = 0; t < transactions; t++) {
      sqlite.transaction(() => {
        for (let i = 0; i < 2; i++) insert.run(`${prefix}${String(rows++).padStart(6, '0')}`);
      })();
    }
  };
  // An index of many pages, of which each phase below touches only its own end.
  write(2500, 'm');
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  replication = await startReplication(config, logger);
  const walReader = new WalReader(config.databasePath);
  const generations = join(config.replicaUrl, 'generations');
  const generation = await eventually(
    async () => (existsSync(generations) ? readdirSync(generations).at(0) : undefined),
    20_000,
    'a generation',
  );
  const generationDirectory = join(generations, generation);
  const walDirectory = join(generationDirectory, 'wal');
  const shipped = () =>
    eventually(
      async () => (shippedBytes(walDirectory) === walReader.committedBytes() ? true : undefined),
      20_000,
      'the WAL shipped',
    );
  write(40, 'a');
  await shipped();
  const before = new Set(readdirSync(walDirectory));
  write(40, 'z');
  await shipped();
  await replication.stop();
  replication = null;
  // Still one WAL index (no checkpoint restarted it): the snapshot and every segment belong together.
  expect(readdirSync(walDirectory).every((name) => parseSegmentName(name)?.index === 0)).toBe(true);

  // The snapshot as Litestream can write it: the file with frames it has not shipped yet.
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const [snapshotName = ''] = readdirSync(join(generationDirectory, 'snapshots'));
  writeFileSync(
    join(generationDirectory, 'snapshots', snapshotName),
    compressFrameSync(readFileSync(config.databasePath)),
  );
  const held = join(box.dir, 'held');
  mkdirSync(held);
  const later = readdirSync(walDirectory).filter((name) => !before.has(name));
  expect(later.length).toBeGreaterThan(0);
  for (const name of later) renameSync(join(walDirectory, name), join(held, name));

  // The next sync ships them: here, as soon as a restore has found the head damaged.
  const shipLater = eventually(
    async () => (warnings.length > 0 ? true : undefined),
    60_000,
    'a restore that waits for the WAL',
  )
    .then(() => {
      for (const name of later) renameSync(join(held, name), join(walDirectory, name));
    })
    // Without a restore that waits (the old code), the restore below fails first.
    .catch(() => {});
  const restored = join(box.dir, 'restored.db');
  await restoreReplica(config, { output: restored, logger });
  await shipLater;
  expect(warnings).toEqual([
    'the restored head of the replica failed its check: restoring again once its WAL is shipped',
  ]);
  expect(rowsOf(restored)).toEqual(rowsOf(config.databasePath));
}, 120_000);
