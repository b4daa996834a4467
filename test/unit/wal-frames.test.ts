import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES } from '../../src/replication/on-disk.ts';
import { WalFormatError, WalFrames, writeFrames } from '../../src/replication/wal-frames.ts';

/**
 * A standby's follower takes only the WAL frames new to a file and writes their pages itself:
 * against a WAL real SQLite wrote, what it writes must be the database SQLite's own checkpoint
 * makes, byte for byte, at a commit (never inside a transaction), and damage must be refused.
 */

const PAGE_SIZE = 4096;
const FRAME_BYTES = WAL_FRAME_HEADER_BYTES + PAGE_SIZE;

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** The same bytes at an odd address. */
function unaligned(bytes: Buffer) {
  const copy = Buffer.alloc(bytes.length + 1).subarray(1);
  bytes.copy(copy);
  return copy;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every row, and SQLite's verdict on the file. */
function readBack(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return {
      rows: db.prepare('select id, length(body) as bytes from notes order by id').raw().all(),
      integrity: db.pragma('integrity_check', { simple: true }),
    };
  } finally {
    db.close();
  }
}

/**
 * A database in WAL mode that never checkpoints by itself, its file copied as `base.db` before
 * three transactions: one that grows the file by many pages, one that changes a few, and one
 * that deletes most rows (auto_vacuum: the file shrinks). Returns the WAL as SQLite wrote it,
 * the rows after each commit, and where each commit frame ends.
 */
function primaryWithWal() {
  dir = mkdtempSync(join(tmpdir(), 'wal-frames-'));
  const path = join(dir, 'primary.db');
  const db = new Database(path);
  db.pragma('auto_vacuum = FULL');
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('create table notes (id integer primary key, body blob)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  copyFileSync(path, join(dir, 'base.db'));
  const insert = db.prepare('insert into notes (body) values (randomblob(?))');
  const states: unknown[] = [];
  const commit = (work: () => void) => {
    db.transaction(work)();
    states.push(readBack(path).rows);
  };
  commit(() => {
    for (let i = 0; i < 200; i++) insert.run(1500);
  });
  commit(() => db.prepare('update notes set body = randomblob(100) where id % 50 = 0').run());
  commit(() => db.prepare('delete from notes where id > 20').run());
  const wal = readFileSync(`${path}-wal`);
  const commitEnds: number[] = [];
  for (let at = WAL_HEADER_BYTES; at < wal.length; at += FRAME_BYTES) {
    if (wal.readUInt32BE(at + 4) !== 0) commitEnds.push(at + FRAME_BYTES);
  }
  return { db, path, wal, states, commitEnds };
}

describe('WAL frames applied by the follower', () => {
  it('write, in parts split inside a transaction, the file SQLite checkpoints, each part at a commit', async () => {
    const { db, path, wal, states, commitEnds } = primaryWithWal();
    expect(commitEnds).toHaveLength(3);
    const followed = join(dir, 'followed.db');
    copyFileSync(join(dir, 'base.db'), followed);
    const frames = new WalFrames();

    // The header and the first transaction, then half of the second: only the first is handed out.
    const [first, second, third] = commitEnds as [number, number, number];
    const insideSecond = first + Math.floor((second - first) / FRAME_BYTES / 2) * FRAME_BYTES;
    expect(insideSecond).toBeGreaterThan(first);
    frames.append(wal.subarray(0, insideSecond));
    expect(frames.committedBytes).toBe(first);
    await writeFrames(followed, frames.committedFrom(0), frames.pageSize);
    expect(readBack(followed)).toEqual({ rows: states[0], integrity: 'ok' });

    // The rest: only the frames new to the file are taken, the file shrinks with the last commit.
    frames.append(wal.subarray(insideSecond, second));
    // Bytes not aligned to a word, as a decompressed segment may be: checked word by word.
    frames.append(unaligned(wal.subarray(second)));
    expect(frames.committedBytes).toBe(third);
    const fresh = frames.committedFrom(first);
    expect(fresh).toHaveLength((third - first) / FRAME_BYTES);
    await writeFrames(followed, fresh, frames.pageSize);
    expect(readBack(followed)).toEqual({ rows: states[2], integrity: 'ok' });

    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    expect(sha256(followed)).toBe(sha256(path));
  });

  it('refuses a frame whose page was changed, and one from another WAL', () => {
    const { db, wal } = primaryWithWal();
    db.close();
    const damaged = Buffer.from(wal);
    const lastByte = WAL_HEADER_BYTES + FRAME_BYTES - 1;
    damaged[lastByte] = (damaged[lastByte] ?? 0) ^ 0xff;
    expect(() => new WalFrames().append(damaged)).toThrow(WalFormatError);
    expect(() => new WalFrames().append(unaligned(damaged))).toThrow(/fails its checksum/);

    // A frame carrying other salts: what a WAL started over would leave behind.
    const foreign = Buffer.from(wal);
    foreign[WAL_HEADER_BYTES + FRAME_BYTES + 8] = (foreign[WAL_HEADER_BYTES + FRAME_BYTES + 8] ?? 0) ^ 1;
    const frames = new WalFrames();
    expect(() => frames.append(foreign)).toThrow(/another WAL/);

    expect(() => new WalFrames().append(wal.subarray(0, WAL_HEADER_BYTES + FRAME_BYTES + 7))).toThrow(/inside a frame/);
  });
});
