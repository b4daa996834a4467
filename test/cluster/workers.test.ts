import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type NodeProcess, startNode } from '../../drill/node-process.ts';
import { freePort } from '../../drill/ports.ts';
import { serverSentEvents, subscribe } from '../ecosystem/sse.ts';
import {
  eventually,
  JWT_SECRET,
  PROCESS_TEST_TIMEOUT_MS,
  rowsOf,
  type Sandbox,
  sandbox,
  tokenFor,
} from '../replication/support.ts';
import { runCli, type Served, startServe } from '../support/process.ts';

/**
 * WORKERS=2 over real processes on loopback: a supervisor, a writer and a read worker sharing
 * the port through node:cluster. node:cluster hands each new connection to the next process,
 * so a request sent on a connection of its own lands on the writer and the reader in turn;
 * each test checks, from the process table in /ready, that the read worker took its share.
 */

interface ProcessInfo {
  role: 'supervisor' | 'writer' | 'reader';
  pid: number;
  upSince: string;
  requestsServed: number | null;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers by shape.
  body: any;
}

/** One request on a connection of its own (no keep-alive pool), so connections alternate. */
function send(url: string, method: string, path: string, body?: unknown, token?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const sent = request(
      `${url}${path}`,
      {
        method,
        agent: false,
        headers: {
          ...(payload && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(token && { authorization: `Bearer ${token}` }),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON (/metrics).
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
      },
    );
    sent.on('error', reject);
    // Bounded: a connection handed to a process in the instant it died is never answered.
    sent.setTimeout(10_000, () => sent.destroy(new Error(`no answer to ${method} ${path} within 10 s`)));
    sent.end(payload);
  });
}

const gql = (url: string, query: string, variables: Record<string, unknown> = {}, token?: string) =>
  send(url, 'POST', '/graphql', { query, variables }, token);

const CREATE_REVIEW = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }';
const review = (subject: string, rating = 4) => ({ input: { subject, rating, title: subject, body: subject } });

async function processes(url: string): Promise<ProcessInfo[]> {
  return (await send(url, 'GET', '/ready')).body.processes;
}

const served = (table: ProcessInfo[], role: ProcessInfo['role']) =>
  table.filter((entry) => entry.role === role).reduce((sum, entry) => sum + (entry.requestsServed ?? 0), 0);

/** Requests the read worker served between two tables, less the /ready that took the second. */
const readerShare = (before: ProcessInfo[], after: ProcessInfo[]) => served(after, 'reader') - served(before, 'reader');

/** Until the host lists its read worker, and that worker answers reads from the file itself. */
async function untilReaderServes(url: string): Promise<ProcessInfo[]> {
  return eventually(
    async () => {
      const table = await processes(url);
      return table.some((entry) => entry.role === 'reader' && entry.requestsServed !== null) ? table : undefined;
    },
    30_000,
    'a read worker in /ready',
  );
}

const dirs: string[] = [];
const servers: Served[] = [];

async function host(env: Record<string, string> = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-workers-'));
  dirs.push(dir);
  const server = await startServe({
    WORKERS: '2',
    REPLICATION: 'off',
    RATE_LIMIT: 'off',
    DATABASE_PATH: join(dir, 'reviews.db'),
    JWT_SECRET,
    ...env,
  });
  servers.push(server);
  await untilReaderServes(server.url);
  return server;
}

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('WORKERS=2 on one host', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  it('lists its processes in /ready and serves reads from every one of them', async () => {
    const { url } = await host();
    const before = await processes(url);
    expect(before.map((entry) => entry.role).sort()).toEqual(['reader', 'supervisor', 'writer']);
    for (let i = 0; i < 6; i++) {
      expect(await gql(url, '{ reviews(first: 1) { totalCount } }')).toMatchObject({
        status: 200,
        body: { data: { reviews: { totalCount: 0 } } },
      });
    }
    const after = await processes(url);
    expect(readerShare(before, after)).toBeGreaterThanOrEqual(3);
    expect(after.every((entry) => typeof entry.upSince === 'string' && entry.pid > 0)).toBe(true);
  });

  it('has the writer execute a mutation sent to a read worker, with the same status, headers and body', async () => {
    const { url } = await host();
    const token = await tokenFor('alice');
    const before = await processes(url);
    // Refused the same way on every connection, wherever it landed.
    const refused = await Promise.all(
      Array.from({ length: 6 }, () => gql(url, CREATE_REVIEW, review('bad rating', 9), token)),
    );
    const shape = (answer: Answer) => ({
      status: answer.status,
      body: answer.body,
      headers: Object.keys(answer.headers)
        .filter((name) => name !== 'date' && name !== 'x-request-id')
        .sort()
        .map((name) => [name, answer.headers[name]]),
    });
    expect(refused[0]?.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    for (const answer of refused) expect(shape(answer)).toEqual(shape(refused[0] as Answer));
    const written = [];
    for (let i = 0; i < 6; i++) written.push(await gql(url, CREATE_REVIEW, review(`subject ${i}`), token));
    expect(written.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(written.every((answer) => answer.body.data.createReview.review.id)).toBe(true);
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(3);
    const dir = dirs.at(-1) as string;
    expect(rowsOf(join(dir, 'reviews.db')).reviews).toHaveLength(6);
  });

  it('counts mutation rate limits across its processes', async () => {
    const { url } = await host({ RATE_LIMIT: 'on', RATE_LIMIT_USER_PER_MINUTE: '4' });
    const token = await tokenFor('bob');
    const before = await processes(url);
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await gql(url, CREATE_REVIEW, review(`limited ${i}`), token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 429, 429]);
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(3);
  });

  it('answers known documents on the fast lane in the read worker as in the writer', async () => {
    const { url } = await host();
    const before = await processes(url);
    const reads = 8;
    for (let i = 0; i < reads; i++) await gql(url, 'query Lane { reviews(first: 1) { totalCount } }');
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(3);
    const metrics = (await send(url, 'GET', '/metrics')).body as string;
    // Each process sends its first to Yoga, which makes the document known; the rest take the
    // lane, which is more than the writer alone answered.
    expect(Number(/^reviews_api_fast_lane_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(reads - 2);
  });

  it('runs a mutation forwarded by a read worker on the writer lane', async () => {
    const { url } = await host();
    const token = await tokenFor('carol');
    const before = await processes(url);
    const writes = 6;
    for (let i = 0; i < writes; i++) {
      expect((await gql(url, CREATE_REVIEW, review(`lane ${i}`), token)).status).toBe(200);
    }
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(3);
    const metrics = (await send(url, 'GET', '/metrics')).body as string;
    // The writer's first goes through Yoga, which makes the document known; the rest take its lane.
    expect(Number(/^reviews_api_write_path_total\{path="lane"\} (\d+)$/m.exec(metrics)?.[1])).toBe(writes - 1);
  });

  it('answers /metrics with one scrape for the whole host', async () => {
    const { url } = await host();
    const before = await processes(url);
    for (let i = 0; i < 10; i++) await gql(url, 'query Probe { reviews(first: 1) { totalCount } }');
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(3);
    // Whichever process answers the scrape, it counts the requests of both.
    for (let scrape = 0; scrape < 2; scrape++) {
      const metrics = (await send(url, 'GET', '/metrics')).body as string;
      const counted = [
        ...metrics.matchAll(/^reviews_api_http_request_duration_seconds_count\{[^}]*operation="Probe"[^}]*\} (\d+)$/gm),
      ].reduce((sum, match) => sum + Number(match[1]), 0);
      expect(counted).toBe(10);
    }
  });

  it('delivers the event of a write to subscribers on every process', async () => {
    const { url } = await host();
    const token = await tokenFor('carol');
    const before = await processes(url);
    const aborted = new AbortController();
    const query = 'subscription($subject: String!) { reviewAdded(subject: $subject) { title } }';
    // Four streams, each on a connection of its own (the first ones stay busy): both processes hold some.
    const streams = [];
    for (let i = 0; i < 4; i++) {
      const response = await subscribe(url, query, { subject: 'crossing' }, aborted.signal);
      expect(response.status).toBe(200);
      streams.push(serverSentEvents(response));
    }
    const after = await processes(url);
    expect(readerShare(before, after)).toBeGreaterThanOrEqual(2);
    try {
      const heard = Promise.all(streams.map((stream) => stream.next()));
      expect((await gql(url, CREATE_REVIEW, review('crossing'), token)).status).toBe(200);
      const events = await Promise.race([
        heard,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not every subscriber heard')), 10_000)),
      ]);
      for (const event of events) expect(event.value?.data).toEqual({ data: { reviewAdded: { title: 'crossing' } } });
    } finally {
      aborted.abort();
    }
  });

  it('with RESPONSE_CACHE=on, drops what a write touched from the cache of every process', async () => {
    const { url } = await host({ RESPONSE_CACHE: 'on' });
    const token = await tokenFor('frank');
    const created = await gql(url, CREATE_REVIEW, review('cached'), token);
    const id = created.body.data.createReview.review.id as string;
    const title = async () => (await gql(url, 'query($id: ID!) { review(id: $id) { title } }', { id })).body;
    const before = await processes(url);
    // Both processes answer (and cache) the query, twice each.
    for (let i = 0; i < 4; i++) expect(await title()).toEqual({ data: { review: { title: 'cached' } } });
    expect(readerShare(before, await processes(url))).toBeGreaterThanOrEqual(2);
    const update = 'mutation($input: UpdateReviewInput!) { updateReview(input: $input) { review { id } } }';
    expect((await gql(url, update, { input: { id, title: 'renamed' } }, token)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect(await title()).toEqual({ data: { review: { title: 'renamed' } } });
  });

  it('restarts a read worker that was killed, and keeps answering meanwhile', async () => {
    const server = await host();
    const { url } = server;
    const killed = (await processes(url)).find((entry) => entry.role === 'reader') as ProcessInfo;
    process.kill(killed.pid, 'SIGKILL');
    // Connections handed to it in the instant it died are lost with it (the requests it held);
    // once the supervisor has seen it go, none is handed to it again.
    await eventually(
      async () =>
        server.logs.some((entry) => entry.msg === 'a read worker exited: starting another') ? true : undefined,
      10_000,
      'the supervisor to see the read worker go',
    );
    for (let i = 0; i < 10; i++) expect((await gql(url, '{ reviews(first: 1) { totalCount } }')).status).toBe(200);
    const table = await eventually(
      async () => {
        const current = await processes(url);
        const reader = current.find((entry) => entry.role === 'reader');
        return reader && reader.pid !== killed.pid && reader.requestsServed !== null ? current : undefined;
      },
      30_000,
      'a new read worker',
    );
    for (let i = 0; i < 6; i++) expect((await gql(url, '{ reviews(first: 1) { totalCount } }')).status).toBe(200);
    expect(readerShare(table, await processes(url))).toBeGreaterThanOrEqual(3);
  });

  it('goes down whole when its writer dies: no read worker serves on without it', async () => {
    const server = await host();
    const table = await processes(server.url);
    const writer = table.find((entry) => entry.role === 'writer') as ProcessInfo;
    const reader = table.find((entry) => entry.role === 'reader') as ProcessInfo;
    const exited = once(server.child, 'exit');
    process.kill(writer.pid, 'SIGKILL');
    expect((await exited)[0]).toBe(1);
    expect(() => process.kill(reader.pid, 0)).toThrow();
    expect(server.logs.some((entry) => entry.msg === 'the writer exited: stopping this host')).toBe(true);
  });
});

describe('WORKERS=2 with Litestream and a lease', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  const boxes: Sandbox[] = [];
  const nodes: NodeProcess[] = [];
  const frozen: number[] = [];
  afterEach(async () => {
    for (const pid of frozen.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone already.
      }
    }
    for (const node of nodes.splice(0)) await node.stop('SIGKILL');
    for (const box of boxes.splice(0)) box.cleanup();
  });

  async function launch(box: Sandbox, name: string, workers: number, primaryUrl?: string) {
    mkdirSync(join(box.dir, name), { recursive: true });
    const node = await startNode({
      name,
      port: await freePort(),
      primaryUrl,
      logFile: join(box.dir, `${name}.log`),
      env: { ...box.env, WORKERS: String(workers), DATABASE_PATH: join(box.dir, name, 'reviews.db') },
    });
    nodes.push(node);
    return node;
  }

  const newBox = () => {
    const box = sandbox('directory', undefined, {
      HEARTBEAT_INTERVAL_MS: '200',
      HEARTBEAT_MISSES: '3',
      REPLICA_SYNC_INTERVAL: '250ms',
    });
    boxes.push(box);
    return box;
  };

  it('refuses writes on every process of a host whose writer was deposed', async () => {
    const box = newBox();
    const a = await launch(box, 'a', 2);
    await untilReaderServes(a.url);
    const b = await launch(box, 'b', 2, a.url);
    await untilReaderServes(b.url);
    const token = await tokenFor('dave');
    expect((await gql(a.url, CREATE_REVIEW, review('before the freeze'), token)).status).toBe(200);

    // A standby host answers reads on every process (its read workers through its writer).
    const standbyBefore = await processes(b.url);
    await eventually(
      async () => {
        const { body } = await gql(b.url, '{ reviews(first: 1) { totalCount } }');
        return body.data?.reviews.totalCount === 1 ? true : undefined;
      },
      30_000,
      'the standby to serve the review',
    );
    for (let i = 0; i < 6; i++) {
      const answer = await gql(b.url, '{ reviews(first: 1) { totalCount } }');
      expect([answer.status, answer.body.data]).toEqual([200, { reviews: { totalCount: 1 } }]);
    }
    expect(readerShare(standbyBefore, await processes(b.url))).toBeGreaterThanOrEqual(3);

    // The whole host freezes (a VM paused), the standby takes over, then the host wakes up.
    const pids = (await processes(a.url)).map((entry) => entry.pid);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    frozen.push(...pids);
    await b.waitForLog('promoted: this node is the primary', 30_000);
    for (const pid of pids) process.kill(pid, 'SIGCONT');

    const before = await processes(a.url);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await gql(a.url, CREATE_REVIEW, review(`zombie ${i}`), token));
    // Deposed, host a writes nothing itself: refused, or (once it stands by for b) forwarded to b.
    const forwarded = answers.filter((answer) => answer.status === 200).length;
    for (const answer of answers) {
      if (answer.status !== 200) {
        expect([answer.status, answer.body.errors?.[0]?.extensions?.code]).toEqual([503, 'READ_ONLY']);
      }
    }
    expect(readerShare(before, await processes(a.url))).toBeGreaterThanOrEqual(3);
    const state = await eventually(
      async () => {
        const ready = (await send(a.url, 'GET', '/ready')).body;
        return ready.role === 'standby' ? ready : undefined;
      },
      20_000,
      'host a to stand by for b',
    );
    expect(state.writable).toBe(false);
    // The standby host promoted: its read workers now serve the new primary's file.
    expect((await gql(b.url, CREATE_REVIEW, review('on the new primary'), token)).status).toBe(200);
    const promotedBefore = await processes(b.url);
    for (let i = 0; i < 6; i++) {
      expect((await gql(b.url, '{ reviews(first: 5) { totalCount } }')).body).toEqual({
        data: { reviews: { totalCount: 2 + forwarded } },
      });
    }
    expect(readerShare(promotedBefore, await processes(b.url))).toBeGreaterThanOrEqual(3);
  });

  it('on SIGTERM drains every process, then ships the last writes, then gives the lease up', async () => {
    const box = newBox();
    const a = await launch(box, 'a', 2);
    await untilReaderServes(a.url);
    const token = await tokenFor('erin');
    const inFlight = Array.from({ length: 6 }, (_, i) => gql(a.url, CREATE_REVIEW, review(`last ${i}`), token));
    // Sent, not yet answered: the host must finish them before it stops.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const exited = once(a.child, 'exit');
    a.child.kill('SIGTERM');
    const statuses = (await Promise.all(inFlight)).map((answer) => answer.status);
    expect((await exited)[0]).toBe(0);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    // Lines reach the one stdout pipe out of order: the processes share it, and one exiting
    // flushes its last line at once while an earlier one may still be in flight (pino's async
    // destination). The order is read from each line's own clock (ms; a tie is no order).
    const steps = [
      'supervisor: shutting down: read workers, then the writer',
      'reader: read worker shutting down',
      'reader: read worker stopped',
      'writer: shutting down',
      'writer: stopped',
      'supervisor: stopped',
    ];
    const times = steps.map((step) => {
      const seen = a.logs.filter((entry) => `${entry.role ?? 'writer'}: ${entry.msg}` === step);
      expect(seen, step).toHaveLength(1);
      return seen[0]?.time ?? Number.NaN;
    });
    for (let i = 1; i < times.length; i++) expect(times[i], steps[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
    // Litestream shipped the tail: the replica has every acknowledged write.
    const restored = join(box.dir, 'restored.db');
    const restore = await runCli(['restore', '--output', restored], { ...box.env, LOG_LEVEL: 'silent' });
    expect(restore.code, restore.stderr).toBe(0);
    expect(rowsOf(restored).reviews).toHaveLength(6);
    // The lease went last, and at once: a new primary takes it without waiting for it to expire.
    const next = await launch(box, 'next', 1);
    expect((await send(next.url, 'GET', '/ready')).body.role).toBe('primary');
  });
});
