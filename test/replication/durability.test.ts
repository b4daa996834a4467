import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { restoreReplica } from '../../src/replication/restore.ts';
import { type Served, startServe } from '../support/process.ts';
import {
  addComment,
  createReview,
  PROCESS_TEST_TIMEOUT_MS,
  type ReplicaKind,
  ready,
  readyAfter,
  replicated,
  rowsOf,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  settingsOf,
  stopAll,
  tokenFor,
} from './support.ts';

const s3 = s3ForThisFile({ restoresInThisProcess: true });

const SYNC_INTERVAL_MS = 1000;
const BURST_MS = 3000;
// Two writers keep the burst steady without starving Litestream of the 2 cores it shares with them.
const WRITERS = 2;
const MAX_WRITES_PER_WRITER = 2000;

describe.each<ReplicaKind>(['directory', 's3'])('durability with a %s replica at the default sync interval', (kind) => {
  let box: Sandbox;
  let served: Served | undefined;
  let litestreamPid: number | null = null;

  afterEach(async () => {
    await stopAll(served, litestreamPid);
    served = undefined;
    box?.cleanup();
  });

  it(
    'reports replication lag, and after kill -9 of server and Litestream mid-burst keeps every write acknowledged two sync intervals before',
    async ({ annotate }) => {
      box = sandbox(kind, s3);
      served = await startServe(box.env);
      const { url } = served;
      litestreamPid = (await ready(url)).replication.litestream.pid;
      const token = await tokenFor('alice');
      const review = await createReview(url, token, 'burst');
      await replicated(url);

      // Lag at rest: from a write's acknowledgement to the first /ready sample showing it replicated.
      const lags: number[] = [];
      for (let n = 0; n < 8; n++) {
        await addComment(url, token, review, `lag-${n}`);
        const acked = Date.now();
        // Not asserting a lag on the first sample: a sync tick may land between the write and it.
        const caughtUp = await readyAfter(url, acked, (state) => state.replication.lagBytes === 0);
        lags.push(Date.parse(caughtUp.replication.sampledAt as string) - acked);
        await sleep(137 * (n % 3));
      }
      lags.sort((a, b) => a - b);

      // The burst: writers go on until the kill; each acknowledgement is timed.
      const acked: { body: string; at: number }[] = [];
      let killed = false;
      let maxLagSeconds = 0;
      const writer = async (id: number) => {
        for (let n = 0; n < MAX_WRITES_PER_WRITER && !killed; n++) {
          const body = `burst-${id}-${n}`;
          const result = await addComment(url, token, review, body).catch(() => null);
          if (result?.data?.addComment && !killed) acked.push({ body, at: Date.now() });
        }
      };
      const watcher = async () => {
        while (!killed) {
          const state = await ready(url).catch(() => null);
          maxLagSeconds = Math.max(maxLagSeconds, state?.replication.lagSeconds ?? 0);
          await sleep(100);
        }
      };
      const writers = [...Array.from({ length: WRITERS }, (_, id) => writer(id)), watcher()];
      await sleep(BURST_MS);
      process.kill(litestreamPid as number, 'SIGKILL');
      served.child.kill('SIGKILL');
      const killedAt = Date.now();
      killed = true;
      await Promise.all(writers);

      const output = join(box.dir, 'after-kill.db');
      await restoreReplica(settingsOf(box.env), { output });
      const restored = rowsOf(output);
      expect(restored.integrity).toBe('ok');
      const bodies = new Set(restored.comments.map((comment) => (comment as { body: string }).body));
      const mustSurvive = acked.filter((write) => write.at < killedAt - 2 * SYNC_INTERVAL_MS);
      expect(mustSurvive.length).toBeGreaterThan(0);
      expect(mustSurvive.filter((write) => !bodies.has(write.body))).toEqual([]);

      const lost = acked.filter((write) => !bodies.has(write.body));
      const lostAge = lost.length
        ? `, acknowledged ${killedAt - Math.min(...lost.map((w) => w.at))} ms or less before the kill`
        : '';
      await annotate(
        `${kind}: lag at rest (ack -> replicated, ${lags.length} writes): median ${lags[lags.length >> 1]} ms, max ${lags.at(-1)} ms; ` +
          `max lagSeconds under the burst ${maxLagSeconds.toFixed(2)} s; kill -9 after ${acked.length} acknowledged writes: ` +
          `${lost.length} lost${lostAge}`,
      );
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('a large database', () => {
  let box: Sandbox | undefined;
  let served: Served | undefined;
  let litestreamPid: number | null = null;

  afterEach(async () => {
    await stopAll(served, litestreamPid);
    box?.cleanup();
  });

  it('with 100,000 comments, a snapshot uploaded in several parts, restores from S3 whole and intact (the time is reported, not asserted)', async ({
    annotate,
  }) => {
    box = sandbox('s3', s3);
    const path = box.env.DATABASE_PATH as string;
    const db = openDatabase(path);
    applyMigrations(db);
    const now = Date.now();
    const sqlite = db.$client;
    sqlite.transaction(() => {
      sqlite
        .prepare('insert into users (id, name, created_at, updated_at) values (?, ?, ?, ?)')
        .run('bulk', 'Bulk', now, now);
      const review = sqlite.prepare(
        'insert into reviews (subject, rating, title, body, author_id, created_at, updated_at) values (?, 4, ?, ?, ?, ?, ?)',
      );
      const comment = sqlite.prepare(
        'insert into comments (review_id, body, author_id, created_at, updated_at) values (?, ?, ?, ?, ?)',
      );
      for (let r = 1; r <= 1000; r++)
        review.run(`subject-${r}`, `Review ${r}`, `Body of review ${r}`, 'bulk', now, now);
      for (let c = 0; c < 100_000; c++) {
        // Random text LZ4 cannot shrink: a 22 MB file, a 17 MB snapshot that Litestream uploads in four parts.
        comment.run((c % 1000) + 1, `Comment ${c}: ${randomBytes(96).toString('base64')}`, 'bulk', now + c, now + c);
      }
    })();
    sqlite.close();
    const written = rowsOf(path);

    served = await startServe(box.env);
    litestreamPid = (await ready(served.url)).replication.litestream.pid;
    await replicated(served.url, 120_000);
    await served.stop('SIGTERM');

    const result = await restoreReplica(settingsOf(box.env), { output: join(box.dir, 'large-restored.db') });
    const restored = rowsOf(result.output);
    expect(restored.integrity).toBe('ok');
    expect(restored.comments).toHaveLength(100_000);
    expect(restored).toEqual(written);
    await annotate(
      `restore of ${restored.comments.length} comments (${(result.bytes / 1e6).toFixed(1)} MB) from S3 took ${result.durationMs} ms`,
    );
  }, 240_000);
});
