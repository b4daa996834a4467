import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';
import { type Replication, startReplication } from '../../src/replication/primary.ts';
import { runCli, type Served, startServe } from '../support/process.ts';
import { lacks } from '../support/system-programs.ts';
import {
  createReview,
  eventually,
  gql,
  PROCESS_TEST_TIMEOUT_MS,
  type Ready,
  ready,
  readyAfter,
  replicated,
  rowsOf,
  type Sandbox,
  sandbox,
  stopAll,
  tokenFor,
} from './support.ts';

/** Litestream, supervised in this process, with the app over the same database. */
async function replicatingApp(box: Sandbox, restartDelayMs: number) {
  const result = loadConfig(box.env);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const config = result.config;
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const db = openDatabase(config.databasePath, { replicating: true });
  applyMigrations(db);
  const replication = await startReplication(config, logger, { restartDelayMs });
  const app = createApp({ db, config, node: replication.node, logger });
  const request = async (path: string, init: RequestInit = {}) => app.fetch(`http://localhost${path}`, init);
  const write = async (subject: string) => {
    const response = await request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` },
      body: JSON.stringify({
        query: `mutation { createReview(input: { subject: "${subject}", rating: 5, title: "t", body: "b" }) { review { id } } }`,
      }),
    });
    return (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
  };
  const readiness = async () => (await (await request('/ready')).json()) as Ready;
  const close = async () => {
    db.$client.close();
    await replication.stop();
  };
  return { replication, write, readiness, lines, close };
}

describe('serving under Litestream', () => {
  let box: Sandbox | undefined;
  let served: Served | undefined;
  let litestreamPid: number | null = null;
  let inProcess: { close(): Promise<void> } | undefined;
  let replication: Replication | undefined;

  afterEach(async () => {
    await inProcess?.close();
    await stopAll(served, litestreamPid);
    if (replication?.supervisor.state.pid) process.kill(replication.supervisor.state.pid, 'SIGKILL');
    inProcess = served = replication = undefined;
    box?.cleanup();
  });

  it(
    'refuses writes while Litestream is down, says why in /ready and the log, and writes again once it is back',
    async () => {
      box = sandbox('directory', undefined);
      // A restart delay longer than the test: Litestream stays down until the test says otherwise.
      const node = await replicatingApp(box, 600_000);
      inProcess = node;
      replication = node.replication;
      expect((await node.write('before')).data).toBeTruthy();

      process.kill(node.replication.supervisor.state.pid as number, 'SIGKILL');
      await eventually(
        async () => (node.replication.supervisor.state.status === 'down' ? true : undefined),
        10_000,
        'the supervisor to notice',
      );
      const refused = await node.write('during');
      expect(refused.errors?.[0]?.extensions?.code).toBe('READ_ONLY');
      const state = await node.readiness();
      expect(state.writable).toBe(false);
      expect(state.readOnlyReason).toMatch(/Litestream is down \(killed by SIGKILL\)/);
      expect(state.replication.litestream.status).toBe('down');
      expect(node.lines).toContainEqual(
        expect.objectContaining({
          level: 50,
          reason: 'killed by SIGKILL',
          msg: 'Litestream stopped replicating: writes are refused until it replicates again',
        }),
      );
      await node.close();
      inProcess = undefined;

      // With a short delay, the supervisor starts it again by itself and writes resume.
      const again = await replicatingApp(box, 100);
      inProcess = again;
      replication = again.replication;
      process.kill(again.replication.supervisor.state.pid as number, 'SIGKILL');
      await eventually(
        async () =>
          again.replication.supervisor.state.restarts === 1 && (await again.readiness()).writable ? true : undefined,
        20_000,
        'Litestream to be started again',
      );
      expect((await again.write('after')).data).toBeTruthy();
      expect(again.lines.map((line) => line.msg)).toContain('Litestream is replicating again: writes accepted');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'ships the last writes on SIGTERM, before the sync interval comes round',
    async () => {
      // After Litestream's first sync the next is 10 s later. Writes made in between reach the
      // replica only through the final sync at shutdown. (DURABILITY=local is writable before
      // that first sync: writes before it are in the window docs/operations.md "Failover and database size"
      // describes, so these come after it.)
      box = sandbox('directory', undefined, { REPLICA_SYNC_INTERVAL: '10s' });
      served = await startServe(box.env);
      await firstSync(served.url);
      litestreamPid = (await ready(served.url)).replication.litestream.pid;
      const token = await tokenFor('alice');
      for (let n = 0; n < 5; n++) await createReview(served.url, token, `last-${n}`);
      const written = Date.now();
      const before = await readyAfter(served.url, written, () => true);
      expect(before.replication.lagBytes).toBeGreaterThan(0);
      expect(await served.stop('SIGTERM')).toBe(0);
      expect(() => process.kill(litestreamPid as number, 0)).toThrow();

      const output = join(box.dir, 'restored.db');
      expect(await runCli(['restore', '--output', output], box.env)).toMatchObject({ code: 0, stderr: '' });
      expect(rowsOf(output).reviews).toHaveLength(5);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it.skipIf(lacks('setpriv', 'the test of Litestream stopping with its killed server'))(
    'takes Litestream down with it when the server is killed, after Litestream ships the last writes',
    async () => {
      // As above, the writes reach the replica only through Litestream's final sync: it must
      // survive its dead server long enough (it logs to a file, not to the dead server's pipe).
      box = sandbox('directory', undefined, { REPLICA_SYNC_INTERVAL: '10s' });
      served = await startServe(box.env);
      await firstSync(served.url);
      litestreamPid = (await ready(served.url)).replication.litestream.pid;
      const token = await tokenFor('alice');
      for (let n = 0; n < 5; n++) await createReview(served.url, token, `killed-${n}`);
      served.child.kill('SIGKILL');
      await eventually(
        async () => {
          try {
            process.kill(litestreamPid as number, 0);
            return undefined;
          } catch {
            return true;
          }
        },
        15_000,
        'Litestream to exit',
      );

      const output = join(box.dir, 'restored.db');
      expect(await runCli(['restore', '--output', output], box.env)).toMatchObject({ code: 0, stderr: '' });
      expect(rowsOf(output).reviews).toHaveLength(5);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'restores a missing database from the replica before it starts',
    async () => {
      box = sandbox('directory', undefined);
      served = await startServe(box.env);
      const token = await tokenFor('alice');
      for (let n = 0; n < 3; n++) await createReview(served.url, token, `kept-${n}`);
      await replicated(served.url);
      await served.stop('SIGTERM');

      // A fresh machine: no database file, the same replica.
      const fresh = { ...box.env, DATABASE_PATH: join(box.dir, 'fresh', 'reviews.db') };
      served = await startServe(fresh);
      litestreamPid = (await ready(served.url)).replication.litestream.pid;
      const { data } = await gql(served.url, '{ reviews { totalCount } }', {});
      expect(data.reviews.totalCount).toBe(3);
      expect(existsSync(fresh.DATABASE_PATH)).toBe(true);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'starts empty when there is neither a database nor a replica',
    async () => {
      box = sandbox('directory', undefined);
      served = await startServe(box.env);
      litestreamPid = (await ready(served.url)).replication.litestream.pid;
      const { data } = await gql(served.url, '{ reviews { totalCount } }', {});
      expect(data.reviews.totalCount).toBe(0);
      const state = await ready(served.url);
      expect(state).toMatchObject({ status: 'ready', writable: true, role: 'primary' });
      expect(state.replication.replica).toBe(box.env.REPLICA_URL);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

/** Until Litestream's first sync the replica reports no position, and lagBytes is null. */
const firstSync = (url: string) =>
  readyAfter(url, 0, (state) => typeof state.replication.lagBytes === 'number', 30_000);
