// The shared cache in front of the service, measured: the benchmark's page query as a public
// GET, straight to a `reviews-api serve` process (every request executes) and then through
// deploy/'s nginx (repeats come from its cache), in the same run on the same data. Then 200
// GETs with a token (none may come from the cache) and, after a write and max-age, 200 anonymous
// GETs (none may miss the write).
//
//   npm run bench:shared-cache                       # 10 s each, 20 connections
//   SHARED_CACHE_SECONDS=5 SHARED_CACHE_CONNECTIONS=50 npm run bench:shared-cache
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { startNginx } from '../drill/nginx.ts';
import { freePort } from '../drill/ports.ts';
import { signingKey, signToken } from '../src/auth.ts';
import { DATASETS, seedDatabase } from './dataset.ts';
import { PAGE_QUERY } from './scenarios.ts';
import { startServer } from './servers.ts';

const seconds = Number(process.env.SHARED_CACHE_SECONDS ?? 10);
const connections = Number(process.env.SHARED_CACHE_CONNECTIONS ?? 20);
if (!(seconds > 0 && seconds <= 120 && connections > 0 && connections <= 500)) {
  throw new Error('SHARED_CACHE_SECONDS must be 1–120 and SHARED_CACHE_CONNECTIONS 1–500');
}

const PATH = `/graphql?query=${encodeURIComponent(PAGE_QUERY)}&operationName=Page&variables=${encodeURIComponent('{"first":20}')}`;
const HEADERS = { 'apollo-require-preflight': 'true' };

async function load(origin: string) {
  const result = await autocannon({ url: `${origin}${PATH}`, headers: HEADERS, connections, duration: seconds });
  const failures = `${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`;
  return { rps: result.requests.average, p99Ms: result.latency.p99, failures };
}

/** Requests for the page query the node answered itself, from its /metrics. */
async function nodeAnswered(origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('reviews_api_http_request_duration_seconds_count{'))
    .filter((line) => line.includes('method="GET"') && line.includes('operation="Page"'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

/** Sequential GETs of the page through nginx: how many X-Cache-Status HITs, and how many lack `title` first. */
async function probe(origin: string, count: number, headers: Record<string, string>, title?: string) {
  let hits = 0;
  let stale = 0;
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${origin}${PATH}`, { headers: { ...HEADERS, ...headers } });
    if (response.headers.get('x-cache-status') === 'HIT') hits++;
    const body = (await response.json()) as { data?: { reviews: { nodes: { title: string }[] } } };
    if (title !== undefined && body.data?.reviews.nodes[0]?.title !== title) stale++;
  }
  return { hits, stale };
}

const JWT_SECRET = 'bench-secret-that-is-at-least-32-characters';
/** The service's default HTTP_CACHE_MAX_AGE, in seconds. */
const MAX_AGE_S = 5;

const dir = mkdtempSync(join(tmpdir(), 'reviews-shared-cache-'));
const databasePath = join(dir, 'reviews.db');
seedDatabase(databasePath, DATASETS.small);
const node = await startServer('service', { databasePath, jwtSecret: JWT_SECRET });
const origin = new URL(node.url).origin;
const nginx = await startNginx(join(dir, 'nginx'), {
  nodes: [new URL(node.url).host],
  listen: `127.0.0.1:${await freePort()}`,
});
try {
  const direct = await load(origin);
  const before = await nodeAnswered(origin);
  const cached = await load(nginx.url);
  const reached = (await nodeAnswered(origin)) - before;
  const token = await signToken({ userId: 'bench-writer' }, await signingKey(JWT_SECRET));
  const tokenHolders = await probe(nginx.url, 200, { authorization: `Bearer ${token}` });
  // A write through nginx; once max-age (+1 s: nginx counts whole seconds) has passed, every
  // reader must see it first on the page (the page orders newest first).
  const title = `Written at ${new Date().toISOString()}`;
  const write = await fetch(`${nginx.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      variables: { input: { subject: 'shared-cache-bench', rating: 5, title, body: 'A write behind the cache.' } },
    }),
  });
  if (!write.ok) throw new Error(`the write failed: ${write.status} ${await write.text()}`);
  await sleep((MAX_AGE_S + 1) * 1000);
  const afterWrite = await probe(nginx.url, 200, {}, title);
  console.log(
    `page query (reviews(first: 20), small dataset) as a public GET, ${connections} connections, ${seconds} s each`,
  );
  console.log(`  service, uncached: ${direct.rps.toFixed(0)} req/s (p99 ${direct.p99Ms} ms, ${direct.failures})`);
  console.log(`  nginx shared cache: ${cached.rps.toFixed(0)} req/s (p99 ${cached.p99Ms} ms, ${cached.failures})`);
  console.log(
    `  ratio: ${(cached.rps / direct.rps).toFixed(1)}×; requests that reached the node through nginx: ${reached}`,
  );
  console.log(`  token holders: ${tokenHolders.hits} of 200 answered from the shared cache`);
  console.log(`  after a write and ${MAX_AGE_S + 1} s: ${afterWrite.stale} of 200 answers without it`);
} finally {
  await nginx.stop();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}
