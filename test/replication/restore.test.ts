import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { aComment, aReview } from '../support/fixtures.ts';
import { runCli, type Served, startServe } from '../support/process.ts';
import { startS3Emulator } from '../support/s3-emulator.ts';
import { lacks } from '../support/system-programs.ts';
import {
  addComment,
  createReview,
  PROCESS_TEST_TIMEOUT_MS,
  type ReplicaKind,
  ready,
  replicated,
  rowsOf,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  stopAll,
  tokenFor,
} from './support.ts';

const s3 = s3ForThisFile();

describe.each<ReplicaKind>(['directory', 's3'])('replication to a %s replica', (kind) => {
  let box: Sandbox;
  let served: Served | undefined;
  let litestreamPid: number | null = null;

  async function serve(env: Record<string, string> = {}) {
    served = await startServe({ ...box.env, ...env });
    litestreamPid = (await ready(served.url)).replication.litestream.pid;
    return served;
  }

  afterEach(async () => {
    await stopAll(served, litestreamPid);
    served = undefined;
    box?.cleanup();
  });

  it(
    'restores what was written through GraphQL, row for row, on another path',
    async () => {
      box = sandbox(kind, s3);
      const { url } = await serve();
      const alice = await tokenFor('alice');
      for (let n = 0; n < 5; n++) {
        const review = await createReview(url, alice, `subject-${n}`);
        for (let c = 0; c < 4; c++) await addComment(url, alice, review, `comment ${c} on ${n}`);
      }
      const state = await replicated(url);
      expect(state.replication.litestream.status).toBe('up');
      // Litestream's own Prometheus endpoint is there for scrapers too.
      const metrics = await (await fetch(state.replication.metrics)).text();
      expect(metrics).toMatch(/^litestream_replica_wal_offset\{/m);

      const output = join(box.dir, 'elsewhere', 'restored.db');
      const restore = await runCli(['restore', '--output', output], box.env);
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      expect(restore.stdout).toMatch(/, quick_check ok\b/);
      const restored = rowsOf(output);
      expect(restored.integrity).toBe('ok');
      expect(restored.comments).toHaveLength(20);
      const { integrity: _, ...live } = rowsOf(box.env.DATABASE_PATH as string);
      expect({ users: restored.users, reviews: restored.reviews, comments: restored.comments }).toEqual(live);

      const fully = join(box.dir, 'fully-checked.db');
      const full = await runCli(['restore', '--output', fully, '--check', 'full'], box.env);
      expect(full).toMatchObject({ code: 0, stderr: '' });
      expect(full.stdout).toMatch(/, integrity_check ok\b/);
      expect(rowsOf(fully).comments).toEqual(live.comments);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'restores to a point in time: every write before it, none after',
    async () => {
      box = sandbox(kind, s3);
      const { url } = await serve();
      const alice = await tokenFor('alice');
      for (let n = 0; n < 3; n++) await createReview(url, alice, `before-${n}`);
      await replicated(url);
      // Replica objects are stamped to the second on some stores: keep a clear second either side.
      await sleep(1100);
      const pointInTime = new Date().toISOString();
      await sleep(1100);
      for (let n = 0; n < 3; n++) await createReview(url, alice, `after-${n}`);
      await replicated(url);

      const output = join(box.dir, 'pitr.db');
      const restore = await runCli(['restore', '--output', output, '--timestamp', pointInTime], box.env);
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      const { reviews, integrity } = rowsOf(output);
      expect(integrity).toBe('ok');
      expect(reviews.map((review) => (review as { subject: string }).subject).sort()).toEqual([
        'before-0',
        'before-1',
        'before-2',
      ]);

      const latest = join(box.dir, 'latest.db');
      expect(await runCli(['restore', '--output', latest, '--latest'], box.env)).toMatchObject({ code: 0, stderr: '' });
      expect(rowsOf(latest).reviews).toHaveLength(6);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'refuses, in one line and with a failing exit code, what it cannot do, and overwrites nothing',
    async () => {
      box = sandbox(kind, s3);
      const output = join(box.dir, 'out.db');

      const nothing = await runCli(['restore', '--output', output], box.env);
      expect(nothing.code).not.toBe(0);
      expect(nothing.stderr).toMatch(/^reviews-api: no backups found in the replica at .+\n$/);
      expect(existsSync(output)).toBe(false);
      expect((await runCli(['restore', '--list'], box.env)).code).not.toBe(0);

      const { url } = await serve();
      await createReview(url, await tokenFor('alice'), 'kept');
      await replicated(url);

      writeFileSync(output, 'not to be overwritten');
      const existing = await runCli(['restore', '--output', output], box.env);
      expect(existing.code).not.toBe(0);
      expect(existing.stderr).toMatch(/^reviews-api: .*out\.db exists; pass --force to replace it\n$/);
      expect(readFileSync(output, 'utf8')).toBe('not to be overwritten');

      const early = join(box.dir, 'early.db');
      const beforeFirst = await runCli(['restore', '--output', early, '--timestamp', '2001-02-03T04:05:06Z'], box.env);
      expect(beforeFirst.code).not.toBe(0);
      expect(beforeFirst.stderr).toMatch(/^reviews-api: 2001-02-03T04:05:06\.000Z is before the first snapshot.*\n$/);
      expect(existsSync(early)).toBe(false);

      const badTime = await runCli(['restore', '--output', early, '--timestamp', 'last tuesday'], box.env);
      expect(badTime.code).not.toBe(0);
      expect(badTime.stderr.trim().split('\n')).toHaveLength(1);

      const listed = await runCli(['restore', '--list'], box.env);
      expect(listed).toMatchObject({ code: 0, stderr: '' });
      expect(listed.stdout).toMatch(
        /^[0-9a-f]{16} {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m,
      );

      const forced = await runCli(['restore', '--output', output, '--force'], box.env);
      expect(forced).toMatchObject({ code: 0, stderr: '' });
      expect(rowsOf(output).reviews).toHaveLength(1);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('an unreachable S3 store', () => {
  it(
    'is a one-line error for restore and list, and serve will not start an empty database beside it',
    async () => {
      const closed = await startS3Emulator();
      const endpoint = closed.address;
      await closed.stop();
      const box = sandbox('s3', s3, {});
      try {
        const env: Record<string, string> = { ...box.env, REPLICA_ENDPOINT: endpoint };
        const output = join(box.dir, 'out.db');
        for (const args of [
          ['restore', '--output', output],
          ['restore', '--list'],
        ]) {
          const result = await runCli(args, env);
          expect(result.code).not.toBe(0);
          expect(result.stderr).toMatch(
            /^reviews-api: cannot read the replica at s3:\/\/\S+ at http:\/\/127\.0\.0\.1:\d+: .+\n$/,
          );
        }
        expect(existsSync(output)).toBe(false);
        await expect(startServe(env)).rejects.toThrow(/cannot read the replica/);
        expect(existsSync(env.DATABASE_PATH as string)).toBe(false);
      } finally {
        box.cleanup();
      }
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

/** Pages of a table's b-tree in an SQLite file, and its page size (dbstat is compiled into better-sqlite3). */
function leafPages(path: string, table: string) {
  const db = new Database(path, { readonly: true });
  try {
    const pages = db
      .prepare("select pageno from dbstat where name = ? and pagetype = 'leaf' order by pageno")
      .pluck()
      .all(table) as number[];
    return { pages, pageSize: Number(db.pragma('page_size', { simple: true })) };
  } finally {
    db.close();
  }
}

/**
 * Overwrites one leaf page of `table` in a Litestream snapshot (an LZ4 frame, as the lz4 tool
 * reads and writes it) with bytes that are no b-tree page: the damage a bad disk or a bad copy
 * leaves, which Litestream restores without complaint.
 */
function damageSnapshotPage(snapshot: string, table: string, scratch: string) {
  const pages = execFileSync('lz4', ['-d', '-c', snapshot], { maxBuffer: 256 * 1024 * 1024 });
  writeFileSync(scratch, pages);
  const { pages: leaves, pageSize } = leafPages(scratch, table);
  const victim = leaves[Math.floor(leaves.length / 2)];
  if (victim === undefined) throw new Error(`${table} has no leaf page to damage`);
  pages.fill(0xff, (victim - 1) * pageSize, victim * pageSize);
  writeFileSync(snapshot, execFileSync('lz4', ['-z', '-c'], { input: pages, maxBuffer: 256 * 1024 * 1024 }));
}

describe.skipIf(lacks('lz4', 'the damaged-snapshot restore test'))('a replica with a damaged page', () => {
  it(
    'is refused by the default check and by --check full, and the target stays as it was',
    async () => {
      const box = sandbox('directory', undefined);
      let served: Served | undefined;
      let litestreamPid: number | null = null;
      try {
        // Rows written before Litestream starts are in its first snapshot, not in WAL
        // segments that the restore would lay over the damaged page.
        const db = openDatabase(box.env.DATABASE_PATH as string);
        applyMigrations(db);
        const review = aReview(db);
        for (let n = 0; n < 300; n++) aComment(db, { reviewId: review.id, body: `comment ${n} `.repeat(20) });
        db.$client.pragma('wal_checkpoint(TRUNCATE)');
        db.$client.close();
        served = await startServe(box.env);
        litestreamPid = (await ready(served.url)).replication.litestream.pid;
        await replicated(served.url);
        await served.stop();

        const output = join(box.dir, 'target', 'reviews.db');
        const good = await runCli(['restore', '--output', output], box.env);
        expect(good).toMatchObject({ code: 0, stderr: '' });
        const before = rowsOf(output);
        expect(before.comments).toHaveLength(300);

        const generations = join(box.env.REPLICA_URL as string, 'generations');
        const [generation] = readdirSync(generations);
        const snapshots = join(generations, generation as string, 'snapshots');
        const [snapshot] = readdirSync(snapshots);
        damageSnapshotPage(join(snapshots, snapshot as string), 'comments', join(box.dir, 'scratch.db'));
        for (const args of [[], ['--check', 'quick'], ['--check', 'full']]) {
          const refused = await runCli(['restore', '--output', output, '--force', ...args], box.env);
          expect(refused.code).not.toBe(0);
          const pragma = args[1] === 'full' ? 'integrity_check' : 'quick_check';
          expect(refused.stderr).toMatch(new RegExp(`^reviews-api: the restored database failed ${pragma}: .+\n$`));
        }
        // The damaged restore never replaced the good file, nor left its temporary copy behind.
        expect(rowsOf(output)).toEqual(before);
        expect(readdirSync(join(box.dir, 'target')).filter((name) => name.startsWith('.reviews-restore-'))).toEqual([]);

        const unknown = await runCli(['restore', '--output', output, '--force', '--check', 'thorough'], box.env);
        expect(unknown.code).not.toBe(0);
        expect(unknown.stderr).toMatch(/quick, full/);
      } finally {
        await stopAll(served, litestreamPid);
        box.cleanup();
      }
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
