import { readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { type NodeProcess, startNodeIn } from '../../drill/node-process.ts';
import { FORWARD_SIGNATURE_HEADER, FORWARDED_FOR_HEADER } from '../../src/failover/forwarding.ts';
import { POSITION_COOKIE, POSITION_HEADER } from '../../src/failover/positions.ts';
import { eventually, type Sandbox, sandbox, tokenFor } from '../replication/support.ts';

/**
 * Every node serves: a primary (`serve`) and standbys (`standby --primary URL`) as real
 * processes, Litestream replicating to a directory every 100 ms, a file lease. The standbys
 * answer reads from their followed data, forward writes to the lease holder, and a read naming
 * a write's position is answered from data that holds it.
 */

const started: NodeProcess[] = [];
const sandboxes: Sandbox[] = [];

afterEach(async () => {
  for (const node of started.splice(0)) await node.stop('SIGKILL');
  for (const box of sandboxes.splice(0)) box.cleanup();
});

/**
 * `HEARTBEAT_MISSES` is high: a killed primary is not replaced, so what a standby answers alone
 * can be told from what it hands on.
 */
function cluster(extra: Record<string, string> = {}) {
  const box = sandbox('directory', undefined, {
    HEARTBEAT_INTERVAL_MS: '200',
    HEARTBEAT_MISSES: '1000',
    REPLICA_SYNC_INTERVAL: '100ms',
    WORKERS: '1',
    ...extra,
  });
  sandboxes.push(box);
  // A failure here is a timing story across processes: their own words tell it.
  onTestFailed(() => {
    for (const log of readdirSync(box.dir).filter((name) => name.endsWith('.log'))) {
      const lines = readFileSync(join(box.dir, log), 'utf8').trimEnd().split('\n').slice(-60);
      console.error(`--- ${log} (last ${lines.length} lines)\n${lines.join('\n')}`);
    }
  });
  box.env.LEASE_URL = `file:${join(box.dir, 'lease')}`;
  return {
    box,
    async launch(name: string, primaryUrl?: string, env: Record<string, string> = {}) {
      const node = await startNodeIn(box.dir, name, { ...box.env, ...env }, { primaryUrl });
      started.push(node);
      return node;
    },
  };
}

const CREATE = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id subject } } }';
const SUBJECTS = '{ reviews(first: 50, orderBy: OLDEST) { nodes { subject } } }';

async function post(url: string, query: string, { variables = {}, headers = {} as Record<string, string> } = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as {
    data?: { reviews?: { nodes: { subject: string }[] } } & Record<string, unknown>;
    errors?: { extensions?: { code?: string } }[];
  };
  return { response, body, code: body.errors?.[0]?.extensions?.code ?? null };
}

const create = (url: string, token: string, subject: string) =>
  post(url, CREATE, {
    variables: { input: { subject, rating: 5, title: subject, body: subject } },
    headers: { authorization: `Bearer ${token}` },
  });

const subjectsOn = async (url: string, headers: Record<string, string> = {}) =>
  (await post(url, SUBJECTS, { headers })).body.data?.reviews?.nodes.map((node) => node.subject) ?? null;

interface StandbyReady {
  role: string;
  reads: { lagMs: number | null; maxLagMs: number; answeredHere: boolean; position: unknown };
}
const readyOf = async (node: NodeProcess) => (await (await fetch(`${node.url}/ready`)).json()) as StandbyReady;

describe('every node serves', () => {
  it('a standby answers reads from followed data, forwards writes once, and reads its writes back', {
    timeout: 120_000,
  }, async () => {
    const { launch } = cluster();
    const token = await tokenFor('alice');
    const primary = await launch('a');
    const standby = await launch('b', primary.url);

    // A write through the standby: forwarded to the primary, answered as the primary answered.
    const written = await create(standby.url, token, 'through the standby');
    expect(written.response.status).toBe(200);
    expect(written.code).toBeNull();
    const position = written.response.headers.get(POSITION_HEADER);
    expect(position).toMatch(/^[0-9a-f]{16}\.\d+\.\d+$/);
    const cookie = written.response.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`${POSITION_COOKIE}=${position}`);
    expect(cookie).toMatch(/Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+/);

    // Read at once through the standby with the position (header, then cookie): the write is there.
    expect(await subjectsOn(standby.url, { [POSITION_HEADER]: position as string })).toEqual(['through the standby']);
    const second = await create(primary.url, token, 'on the primary');
    const secondPosition = second.response.headers.get(POSITION_HEADER) as string;
    expect(await subjectsOn(standby.url, { cookie: `${POSITION_COOKIE}=${secondPosition}` })).toEqual([
      'through the standby',
      'on the primary',
    ]);
    // Written once: the primary holds each subject once.
    expect(await subjectsOn(primary.url)).toEqual(['through the standby', 'on the primary']);

    // A position that is no position is refused.
    const bad = await post(standby.url, SUBJECTS, { headers: { [POSITION_HEADER]: 'yesterday' } });
    expect([bad.response.status, bad.code]).toEqual([400, 'BAD_USER_INPUT']);

    // REST reads and /ready on the standby; its lag is visible in /ready and /metrics.
    const rest = await fetch(`${standby.url}/api/reviews?first=5`);
    expect(rest.status).toBe(200);
    const state = await readyOf(standby);
    expect(state).toMatchObject({ role: 'standby', reads: { answeredHere: true, maxLagMs: 10_000 } });
    expect(state.reads.lagMs).toEqual(expect.any(Number));
    const metrics = await (await fetch(`${standby.url}/metrics`)).text();
    expect(metrics).toMatch(/reviews_api_node_figure\{key="reads\.lagMs"\} \d+/);

    // The primary dies and nobody takes over: the standby still answers reads itself, from its
    // own data, and refuses writes with 503 + Retry-After until a primary answers again. Killed
    // once the standby's own data holds both writes: a read naming a position the standby had
    // not reached within its wait was answered by the primary, maybe before Litestream shipped it.
    for (let i = 0; i < 150 && ((await subjectsOn(standby.url))?.length ?? 0) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await primary.stop('SIGKILL');
    for (let i = 0; i < 5; i++) {
      expect(await subjectsOn(standby.url)).toEqual(['through the standby', 'on the primary']);
    }
    const refused = await create(standby.url, token, 'no primary');
    expect([refused.response.status, refused.code]).toEqual([503, 'READ_ONLY']);
    expect(refused.response.headers.get('retry-after')).toBe('1');
  });

  it('refuses a forged forwarding header on every node', { timeout: 60_000 }, async () => {
    const { launch } = cluster();
    const token = await tokenFor('mallory');
    const primary = await launch('a');
    const standby = await launch('b', primary.url);
    for (const node of [primary, standby]) {
      const forgeries: Record<string, string>[] = [
        { [FORWARDED_FOR_HEADER]: '10.9.8.7', [FORWARD_SIGNATURE_HEADER]: `${Date.now()}.${'ab'.repeat(32)}` },
        { [FORWARDED_FOR_HEADER]: '10.9.8.7' },
      ];
      for (const headers of forgeries) {
        const forged = await post(node.url, CREATE, {
          variables: { input: { subject: 'forged', rating: 1, title: 'x', body: 'x' } },
          headers: { ...headers, authorization: `Bearer ${token}` },
        });
        expect([forged.response.status, forged.code]).toEqual([403, 'FORBIDDEN']);
      }
    }
    expect(await subjectsOn(primary.url)).toEqual([]);
  });

  it('hands reads to the primary once its data is older than STANDBY_MAX_LAG, and 503s when none answers', {
    timeout: 120_000,
  }, async () => {
    const { box, launch } = cluster();
    const token = await tokenFor('bob');
    const primary = await launch('a');
    await create(primary.url, token, 'first');
    // This standby reaches the replica through a link that the test can break.
    const link = join(box.dir, 'replica-link');
    symlinkSync(box.env.REPLICA_URL as string, link);
    const standby = await launch('b', primary.url, { REPLICA_URL: link, STANDBY_MAX_LAG: '1s' });
    await eventually(async () => ((await subjectsOn(standby.url))?.length === 1 ? true : undefined), 10_000, 'first');
    expect((await readyOf(standby)).reads.answeredHere).toBe(true);

    // The standby can no longer read the replica: its data ages past the bound.
    rmSync(link);
    writeFileSync(link, 'not a replica');
    await create(primary.url, token, 'second');
    await eventually(async () => ((await readyOf(standby)).reads.answeredHere ? undefined : true), 10_000, 'stale');
    // Its reads are the primary's now: fresh.
    expect(await subjectsOn(standby.url)).toEqual(['first', 'second']);

    await primary.stop('SIGKILL');
    const refused = await post(standby.url, SUBJECTS);
    expect([refused.response.status, refused.code]).toEqual([503, 'READ_ONLY']);
    expect(refused.response.headers.get('retry-after')).toBe('1');
  });
  it('answers from the followed data as it is now with RESPONSE_CACHE=on, not from an answer cached before', {
    timeout: 60_000,
  }, async () => {
    const { launch } = cluster({ RESPONSE_CACHE: 'on' });
    const token = await tokenFor('carol');
    const primary = await launch('a');
    const standby = await launch('b', primary.url);
    expect((await create(primary.url, token, 'first')).code).toBeNull();
    const subjects = (expected: string[]) => async () =>
      JSON.stringify(await subjectsOn(standby.url)) === JSON.stringify(expected) ? true : undefined;
    // Answered (and, with a response cache, cached) by the standby once it follows the write.
    await eventually(subjects(['first']), 15_000, 'the standby to hold the first write');
    const second = await create(primary.url, token, 'second');
    const position = second.response.headers.get(POSITION_HEADER) as string;
    // A cached answer lived a minute, whatever the standby followed meanwhile.
    await eventually(subjects(['first', 'second']), 15_000, 'the standby to answer with the second write');
    expect(await subjectsOn(standby.url, { [POSITION_HEADER]: position })).toEqual(['first', 'second']);
  });
});
