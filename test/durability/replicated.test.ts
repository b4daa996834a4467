import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreReplica } from '../../src/replication/restore.ts';
import {
  addComment,
  createReview,
  eventually,
  PROCESS_TEST_TIMEOUT_MS,
  ready,
  rowsOf,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  settingsOf,
  stopAll,
  tokenFor,
} from '../replication/support.ts';
import { type Served, startServe } from '../support/process.ts';
import { litestreamFigures, replicaWalSegments, StallingRelay } from './support.ts';

/**
 * DURABILITY=replicated against real parts: `reviews-api serve` under Litestream 0.3.13,
 * replicating to a directory or to the fauxqs S3 emulator, over loopback HTTP.
 */

const s3 = s3ForThisFile({ restoresInThisProcess: true });

let box: Sandbox | undefined;
let served: Served | undefined;
let litestreamPid: number | null = null;
let relay: StallingRelay | undefined;

afterEach(async () => {
  relay?.resume();
  await stopAll(served, litestreamPid);
  await relay?.stop();
  box?.cleanup();
  [box, served, litestreamPid, relay] = [undefined, undefined, null, undefined];
});

async function serveReplicated(env: Record<string, string>) {
  served = await startServe(env);
  const state = await ready(served.url);
  litestreamPid = state.replication.litestream.pid;
  expect(state.replication).toMatchObject({ durability: { mode: 'replicated' } });
  return { url: served.url, metrics: state.replication.metrics };
}

describe('DURABILITY=replicated', () => {
  it(
    'answers many concurrent mutations from a few replica uploads (group commit)',
    async ({ annotate }) => {
      const clients = 64;
      box = sandbox('directory', undefined, { DURABILITY: 'replicated', REPLICA_SYNC_INTERVAL: '500ms' });
      const { url, metrics } = await serveReplicated(box.env);
      const token = await tokenFor('alice');
      const review = await createReview(url, token, 'group-commit');
      const replicaDir = box.env.REPLICA_URL as string;
      const databasePath = box.env.DATABASE_PATH as string;

      const before = { segments: replicaWalSegments(replicaDir), ...(await litestreamFigures(metrics, databasePath)) };
      const answers = await Promise.all(
        Array.from({ length: clients }, (_, n) => addComment(url, token, review, `together-${n}`)),
      );
      const after = { segments: replicaWalSegments(replicaDir), ...(await litestreamFigures(metrics, databasePath)) };

      expect(answers.filter((answer) => !answer.data?.addComment)).toEqual([]);
      // Each acknowledged write waited for an upload; one upload (and sync cycle) per write would
      // be `clients` of them. The bound leaves room for a slow, shared machine.
      const uploads = after.segments - before.segments;
      const syncs = after.syncs - before.syncs;
      expect(uploads).toBeGreaterThan(0);
      expect(uploads).toBeLessThan(clients / 3);
      expect(syncs).toBeLessThan(clients / 3);
      const { durability } = (await ready(url)).replication as unknown as { durability: { confirmed: number } };
      expect(durability.confirmed).toBeGreaterThanOrEqual(clients);
      await annotate(`${clients} concurrent mutations: ${uploads} WAL uploads, ${syncs} Litestream sync cycles`);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'keeps every acknowledged write through kill -9 of server and Litestream right after an acknowledgement, across WAL checkpoints',
    async ({ annotate }) => {
      box = sandbox('s3', s3, {
        DURABILITY: 'replicated',
        REPLICA_SYNC_INTERVAL: '100ms',
        // Generous: this test is about what an acknowledgement promises, not how fast it comes.
        DURABILITY_TIMEOUT_MS: '30000',
      });
      const { url, metrics } = await serveReplicated(box.env);
      const databasePath = box.env.DATABASE_PATH as string;
      const token = await tokenFor('alice');
      const review = await createReview(url, token, 'kill');

      // Big comments fill the WAL past Litestream's checkpoint threshold (1000 pages), so the
      // acknowledged writes span more than one WAL index.
      const filler = 'x'.repeat(3000);
      const acked: string[] = [];
      const refused: string[] = [];
      let checkpointed = false;
      let killed = false;
      const deadline = Date.now() + 90_000;
      const kill = () => {
        if (killed) return;
        killed = true;
        process.kill(litestreamPid as number, 'SIGKILL');
        served?.child.kill('SIGKILL');
      };
      const writer = async (id: number) => {
        for (let n = 0; !killed && Date.now() < deadline && n < 2000; n++) {
          const key = `kill-${id}-${n}`;
          const answer = await addComment(url, token, review, `${key} ${filler}`).catch(() => null);
          if (killed) return;
          if (answer?.data?.addComment) acked.push(key);
          else if (answer?.errors?.[0]?.extensions?.code) refused.push(answer.errors[0].extensions.code);
          // Right after an acknowledgement, once the WAL has started over at least once.
          if (checkpointed && acked.length >= 400) kill();
        }
      };
      const watcher = async () => {
        while (!killed && Date.now() < deadline) {
          const figures = await litestreamFigures(metrics, databasePath).catch(() => null);
          if (figures && figures.shadowIndex >= 1) checkpointed = true;
          await sleep(200);
        }
      };
      await Promise.all([...Array.from({ length: 8 }, (_, id) => writer(id)), watcher()]);
      kill();
      expect(checkpointed).toBe(true);
      expect(acked.length).toBeGreaterThanOrEqual(400);

      const output = join(box.dir, 'after-kill.db');
      await restoreReplica(settingsOf(box.env), { output });
      const restored = rowsOf(output);
      expect(restored.integrity).toBe('ok');
      const keys = new Set(restored.comments.map((comment) => (comment as { body: string }).body.split(' ')[0]));
      const lost = acked.filter((key) => !keys.has(key));
      expect(lost).toEqual([]);
      await annotate(
        `${acked.length} acknowledged writes, ${lost.length} lost after kill -9; ${refused.length} refused (${[...new Set(refused)].join(', ') || 'none'}); restored ${keys.size} comments`,
      );
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'loses no acknowledged write when Litestream alone is killed and started again, and acknowledges again after',
    async ({ annotate }) => {
      box = sandbox('directory', undefined, {
        DURABILITY: 'replicated',
        REPLICA_SYNC_INTERVAL: '100ms',
        DURABILITY_TIMEOUT_MS: '20000',
      });
      const { url } = await serveReplicated(box.env);
      const token = await tokenFor('alice');
      const review = await createReview(url, token, 'restart');

      // Writers run on while Litestream alone is killed; the server starts it again.
      const acked: string[] = [];
      const answers: Record<string, number> = {};
      let stop = false;
      const writer = async (id: number) => {
        for (let n = 0; !stop && n < 5000; n++) {
          const key = `restart-${id}-${n}`;
          const answer = await addComment(url, token, review, key).catch(() => null);
          const code = answer?.data?.addComment ? 'ok' : (answer?.errors?.[0]?.extensions?.code ?? 'no answer');
          answers[code] = (answers[code] ?? 0) + 1;
          if (code === 'ok') acked.push(key);
          else await sleep(50);
        }
      };
      const writers = Array.from({ length: 4 }, (_, id) => writer(id));
      await sleep(1500);
      const firstPid = litestreamPid as number;
      process.kill(firstPid, 'SIGKILL');
      const killedAt = acked.length;
      const restarted = await eventually(
        async () => {
          const state = await ready(url);
          return state.writable && state.replication.litestream.pid !== firstPid ? state : undefined;
        },
        60_000,
        'Litestream started again',
      );
      litestreamPid = restarted.replication.litestream.pid;
      await eventually(
        async () => (acked.length > killedAt + 20 ? true : undefined),
        60_000,
        'writes acknowledged again',
      );
      stop = true;
      await Promise.all(writers);
      process.kill(litestreamPid as number, 'SIGKILL');
      served?.child.kill('SIGKILL');

      const output = join(box.dir, 'after-restart.db');
      await restoreReplica(settingsOf(box.env), { output });
      const bodies = new Set(rowsOf(output).comments.map((comment) => (comment as { body: string }).body));
      expect(acked.filter((key) => !bodies.has(key))).toEqual([]);
      await annotate(`answers: ${JSON.stringify(answers)}; ${acked.length - killedAt} acknowledged after the restart`);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'answers NOT_REPLICATED (503) after the bound while the object store stalls, and succeeds again once it answers',
    async () => {
      const target = new URL(s3.address);
      relay = new StallingRelay({ host: target.hostname, port: Number(target.port) });
      await relay.start();
      box = sandbox('s3', s3, { DURABILITY: 'replicated', REPLICA_SYNC_INTERVAL: '100ms' });
      Object.assign(box.env, { REPLICA_ENDPOINT: relay.address, DURABILITY_TIMEOUT_MS: '1500' });
      const { url } = await serveReplicated(box.env);
      const token = await tokenFor('alice');
      const review = await createReview(url, token, 'stall');

      relay.pause();
      const stalled = await Promise.all(
        Array.from({ length: 5 }, async (_, n) => {
          const response = await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({
              query: 'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }',
              variables: { input: { reviewId: review, body: `stalled-${n}` } },
            }),
          });
          return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: unknown[] } };
        }),
      );
      for (const answer of stalled) {
        expect(answer.status).toBe(503);
        expect(answer.body).toMatchObject({
          data: null,
          errors: [{ extensions: { code: 'NOT_REPLICATED' } }],
        });
      }
      const state = await ready(url);
      expect(state.replication).toMatchObject({ durability: { notReplicated: 5 } });

      relay.resume();
      const recovered = await eventually(
        async () => {
          const answer = await addComment(url, token, review, 'after-the-stall');
          return answer.data?.addComment ? answer : undefined;
        },
        60_000,
        'a confirmed write after the store answers again',
      );
      expect(recovered.errors).toBeUndefined();
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
