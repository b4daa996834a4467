// Every node serves, per request: CPU of a read answered by a standby (from its followed data)
// beside the same read on the primary, and CPU a standby spends forwarding a write to the
// primary, in one run on the same data. Real processes (WORKERS of them per host, 1 unless said;
// Litestream to a directory, a file lease); CPU from /proc, summed over each host's processes,
// with their idle CPU over the same time taken off (a standby follows the replica, a primary
// runs Litestream, whatever the load).
//
//   npm run bench:every-node                        # 3000 reads and 600 writes each way
//   EVERY_NODE_READS=5000 EVERY_NODE_WRITES=1000 npm run bench:every-node
//   EVERY_NODE_WORKERS=2 npm run bench:every-node   # a writer and a read worker per host
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NodeProcess, startNodeIn } from '../drill/node-process.ts';
import { waitFor } from '../drill/ports.ts';
import { cpuMilliseconds } from '../harness/server-process.ts';
import { signingKey, signToken } from '../src/auth.ts';
import { PAGE_QUERY } from './scenarios.ts';

const reads = Number(process.env.EVERY_NODE_READS ?? 3000);
const writes = Number(process.env.EVERY_NODE_WRITES ?? 600);
const workers = Number(process.env.EVERY_NODE_WORKERS ?? 1);
const CONCURRENCY = 16;
const IDLE_MS = 3000;
if (!(reads > 0 && reads <= 100_000 && writes > 0 && writes <= 20_000)) {
  throw new Error('EVERY_NODE_READS must be 1–100000 and EVERY_NODE_WRITES 1–20000');
}
if (!(Number.isInteger(workers) && workers >= 1 && workers <= 16)) throw new Error('EVERY_NODE_WORKERS must be 1–16');

const JWT_SECRET = 'every-node-bench-secret-of-32-characters!';
const dir = mkdtempSync(join(tmpdir(), 'reviews-every-node-'));
const env = {
  JWT_SECRET,
  RATE_LIMIT: 'off',
  WORKERS: String(workers),
  LOG_LEVEL: 'info',
  REPLICA_URL: join(dir, 'replica'),
  LEASE_URL: `file:${join(dir, 'lease')}`,
};
const launch = (name: string, primaryUrl?: string) => startNodeIn(dir, name, env, { primaryUrl });

const token = await signToken({ userId: 'bench-every-node', name: 'Bench' }, await signingKey(JWT_SECRET));
const CREATE = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }';

async function post(url: string, query: string, variables: Record<string, unknown>, withToken: boolean) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(withToken && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`HTTP ${response.status} from ${url}`);
}

/** `count` requests, CONCURRENCY at a time. */
async function run(count: number, send: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await send(next++);
    }),
  );
}

/**
 * CPU ms per request on `node` over `count` requests, its idle rate over the same time taken
 * off; and the share of the host's CPU over those requests that the processes `part` used.
 */
async function cpuPerRequest(
  node: NodeProcess,
  count: number,
  send: (i: number) => Promise<void>,
  part: number[] = [],
) {
  const partCpu = () => part.reduce((sum, pid) => sum + cpuMilliseconds(pid), 0);
  const idleFrom = node.cpuMs();
  await sleep(IDLE_MS);
  const idlePerMs = (node.cpuMs() - idleFrom) / IDLE_MS;
  const from = node.cpuMs();
  const partFrom = partCpu();
  const startedAt = performance.now();
  await run(count, send);
  const elapsed = performance.now() - startedAt;
  const used = node.cpuMs() - from;
  return { perRequest: Math.max(0, used - idlePerMs * elapsed) / count, share: (partCpu() - partFrom) / used };
}

let seq = 0;
const write = (url: string) => () =>
  post(url, CREATE, { input: { subject: `bench-${seq++}`, rating: 4, title: 'bench', body: 'every node' } }, true);
const read = (url: string) => () => post(url, PAGE_QUERY, { first: 20 }, false);

/** /ready as the bench reads it: the standby's lag, and (WORKERS > 1) the host's process table. */
async function readyOf(node: NodeProcess) {
  return (await (await fetch(`${node.url}/ready`)).json()) as {
    reads?: { lagMs?: number | null };
    processes?: { role: string; pid: number; requestsServed: number | null }[];
  };
}

const primary = await launch('a');
const standby = await launch('b', primary.url);
try {
  await run(200, write(primary.url));
  await waitFor(
    'the standby to serve the seeded reviews, and every process of both hosts to be up',
    async () => {
      const states = await Promise.all([primary, standby].map(readyOf));
      const up = (state: (typeof states)[number]) => (state.processes ?? []).filter((p) => p.requestsServed !== null);
      const allUp = states.every((state) => up(state).length === (workers === 1 ? 0 : workers + 1));
      return allUp && (states[1]?.reads?.lagMs ?? Number.POSITIVE_INFINITY) < 2000;
    },
    30_000,
  );
  const readWorkers = ((await readyOf(standby)).processes ?? [])
    .filter((entry) => entry.role === 'reader')
    .map((entry) => entry.pid);
  const readOnPrimary = (await cpuPerRequest(primary, reads, read(primary.url))).perRequest;
  const readOnStandby = await cpuPerRequest(standby, reads, read(standby.url), readWorkers);
  const writeOnPrimary = (await cpuPerRequest(primary, writes, write(primary.url))).perRequest;
  const forwardOnStandby = (await cpuPerRequest(standby, writes, write(standby.url))).perRequest;
  const row = (what: string, ms: number) => `${what.padEnd(48)} ${ms.toFixed(3)} ms`;
  process.stdout.write(
    [
      `every node serves, CPU per request (${reads} reads, ${writes} writes each, ${CONCURRENCY} at a time, WORKERS=${workers})`,
      row('read (page query) on the primary', readOnPrimary),
      row('the same read on a standby', readOnStandby.perRequest),
      row('write (createReview) on the primary', writeOnPrimary),
      row('forwarding a write, on the standby', forwardOnStandby),
      `standby ÷ primary per read: ${(readOnStandby.perRequest / readOnPrimary).toFixed(2)}`,
      ...(workers > 1
        ? [`the standby's CPU over its reads in its read workers: ${(readOnStandby.share * 100).toFixed(0)} %`]
        : []),
      '',
    ].join('\n'),
  );
} finally {
  await standby.stop();
  await primary.stop();
  rmSync(dir, { recursive: true, force: true });
}
