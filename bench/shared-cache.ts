// The shared cache in front of the service, measured: the benchmark's page query as a public
// GET, straight to a `reviews-api serve` process (every request executes) and then through
// deploy/'s nginx (repeats come from its cache), in the same run on the same data.
//
//   npm run bench:shared-cache                       # 10 s each, 20 connections
//   SHARED_CACHE_SECONDS=5 SHARED_CACHE_CONNECTIONS=50 npm run bench:shared-cache
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { DATASETS, seedDatabase } from './dataset.ts';
import { startNginx } from './drill/nginx.ts';
import { freePort } from './drill/ports.ts';
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

const dir = mkdtempSync(join(tmpdir(), 'reviews-shared-cache-'));
const databasePath = join(dir, 'reviews.db');
seedDatabase(databasePath, DATASETS.small);
const node = await startServer('service', { databasePath, jwtSecret: 'bench-secret-that-is-at-least-32-characters' });
const origin = new URL(node.url).origin;
const nginx = await startNginx(join(dir, 'nginx'), {
  primary: new URL(node.url).host,
  standby: `127.0.0.1:${await freePort()}`,
  listen: `127.0.0.1:${await freePort()}`,
});
try {
  const direct = await load(origin);
  const before = await nodeAnswered(origin);
  const cached = await load(nginx.url);
  const reached = (await nodeAnswered(origin)) - before;
  console.log(
    `page query (reviews(first: 20), small dataset) as a public GET, ${connections} connections, ${seconds} s each`,
  );
  console.log(
    `  service, uncached: ${direct.rps.toFixed(0)} req/s (p99 ${direct.p99Ms} ms, ${direct.failures})`,
  );
  console.log(
    `  nginx shared cache: ${cached.rps.toFixed(0)} req/s (p99 ${cached.p99Ms} ms, ${cached.failures})`,
  );
  console.log(
    `  ratio: ${(cached.rps / direct.rps).toFixed(1)}×; requests that reached the node through nginx: ${reached}`,
  );
} finally {
  await nginx.stop();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}
