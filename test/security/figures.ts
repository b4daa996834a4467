/**
 * The figures SECURITY.md reports; not a test, each part bounded in count:
 *
 *   node --import tsx test/security/figures.ts served         # the worst accepted documents against `serve`
 *   node --import tsx test/security/figures.ts worst          # the same in process (a profiler's view)
 *   node --import tsx test/security/figures.ts metrics        # /metrics and RSS over 100,000 unique operation names
 *   node --import tsx test/security/figures.ts subscriptions  # RSS while one address opens 4,000 subscriptions
 *   node --import tsx test/security/figures.ts documents      # RSS and CPU over 1,000 distinct ~900 KB documents
 *
 * `served`, `subscriptions` and `documents` take settings after their name: `documents FAST_READS=off WORKERS=2`.
 *
 * `worst` runs on the largest data one account's rows can give every connection (100 reviews
 * of 10,000 characters, 100 comments of 5,000 on each) in a database file, in production mode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';
import { testConfig } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';

/** Settings given after the part's name, as `KEY=value` (`WORKERS=2`, `FAST_READS=off`). */
const settingsFromArguments = (): Record<string, string> =>
  Object.fromEntries(process.argv.slice(3).map((pair) => pair.split('=') as [string, string]));

/** `reviews-api serve` as production runs it, on one process, over `databasePath`; `env` adds to it. */
async function serveInProduction(databasePath: string, env: Record<string, string> = {}) {
  const { startServerProcess } = await import('../../harness/server-process.ts');
  return startServerProcess({
    name: 'serve',
    env: {
      NODE_ENV: 'production',
      JWT_SECRET: testConfig.jwtSecret,
      DATABASE_PATH: databasePath,
      REPLICATION: 'off',
      WORKERS: '1',
      ...env,
    },
  });
}

const aliased = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

export const WORST_DOCUMENTS: Record<string, string> = {
  'review bodies': aliased(4, 'reviews(first: 100) { nodes { body } }'),
  'comment bodies': '{ reviews(first: 9) { nodes { comments(first: 100) { nodes { body } } } } }',
  'comment rows': '{ reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }',
  'id+date rows': '{ reviews(first: 100) { nodes { comments(first: 95) { nodes { id updatedAt } } } } }',
  'typename rows': '{ reviews(first: 100) { nodes { comments(first: 100) { nodes { __typename } } } } }',
  'edges rows': '{ reviews(first: 100) { nodes { comments(first: 100) { edges { cursor node { id } } } } } }',
  'author rows': '{ reviews(first: 100) { nodes { comments(first: 65) { nodes { author { id } } } } } }',
  'author names': '{ reviews(first: 100) { nodes { comments(first: 65) { nodes { author { name } } } } } }',
  'nodes(ids)': 'NODES',
  counts: `{ ${Array.from({ length: 15 }, (_, i) => `c${i}: reviews(minRating: 1) { totalCount }`).join(' ')} }`,
  'page query':
    'query Page($first: Int) { reviews(first: $first) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }',
};

const NODES_QUERY =
  'query($ids: [ID!]!) { nodes(ids: $ids) { ... on Review { comments(first: 40) { nodes { id author { id } } } } } }';

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/** A migrated database file in a directory of its own. */
function freshDatabase(name: string) {
  const directory = mkdtempSync(join(tmpdir(), 'reviews-figures-'));
  const databasePath = join(directory, name);
  const db = openDatabase(databasePath);
  applyMigrations(db);
  return { directory, databasePath, db };
}

/**
 * The largest data one account's rows can give every connection: 100 reviews of 10,000
 * characters, 100 comments of 5,000 on each; `ids` are the reviews' global ids.
 */
function worstData() {
  const data = freshDatabase('worst.db');
  const author = aUser(data.db, 'mallory');
  const ids: string[] = [];
  for (let r = 0; r < 100; r++) {
    const review = aReview(data.db, { authorId: author, body: 'r'.repeat(10_000) });
    ids.push(review.globalId);
    for (let c = 0; c < 100; c++) aComment(data.db, { reviewId: review.id, authorId: author, body: 'c'.repeat(5000) });
  }
  return { ...data, ids };
}

async function worst() {
  const { directory, db, ids } = worstData();
  const app = createApp({ db, config: { ...testConfig, env: 'production' } });
  console.log(`data written; rss ${mb(process.memoryUsage().rss)}`);
  const run = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, text: await response.text() };
  };
  // One document per process (`figures.ts worst 'id+date rows'`) gives each its own peak RSS.
  const only = process.argv[3];
  for (let [name, query] of Object.entries(WORST_DOCUMENTS)) {
    if (only && name !== only) continue;
    const variables = name === 'page query' ? { first: 100 } : name === 'nodes(ids)' ? { ids } : {};
    if (query === 'NODES') query = NODES_QUERY;
    await run(query, variables);
    const cpus: number[] = [];
    let last = { status: 0, text: '' };
    for (let i = 0; i < 5; i++) {
      const before = process.cpuUsage();
      last = await run(query, variables);
      const used = process.cpuUsage(before);
      cpus.push((used.user + used.system) / 1000);
    }
    // Ten at once, as ten clients would send it: the peak resident memory it takes.
    await Promise.all(Array.from({ length: 10 }, () => run(query, variables)));
    cpus.sort((a, b) => a - b);
    const refused = last.text.startsWith('{"errors"') ? last.text.slice(0, 100) : '';
    console.log(
      `${name.padEnd(15)} ${last.status} ${String(last.text.length).padStart(8)} B  cpu median ${cpus[2]?.toFixed(1)} ms, max ${cpus[4]?.toFixed(1)} ms  rss ${mb(process.memoryUsage().rss)} peak ${mb(process.resourceUsage().maxRSS * 1024)} ${refused}`,
    );
  }
  db.$client.close();
  rmSync(directory, { recursive: true, force: true });
}

/**
 * The same documents against `reviews-api serve` (production, one process, REPLICATION=off)
 * on that data: CPU per request and resident memory, read from the server's /proc entries.
 */
async function served() {
  const { directory, databasePath, db, ids } = worstData();
  db.$client.close();
  const server = await serveInProduction(databasePath, settingsFromArguments());
  const run = async (query: string, variables: Record<string, unknown>) => {
    const response = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, text: await response.text() };
  };
  console.log(`started: rss ${mb(server.rss())}`);
  let peak = server.rss();
  const statuses = new Map<number, number>();
  for (const [name, document] of Object.entries(WORST_DOCUMENTS)) {
    const query = document === 'NODES' ? NODES_QUERY : document;
    const variables = name === 'page query' ? { first: 100 } : name === 'nodes(ids)' ? { ids } : {};
    const cpus: number[] = [];
    let last = { status: 0, text: '' };
    for (let i = 0; i < 6; i++) {
      const before = server.cpuMs();
      last = await run(query, variables);
      statuses.set(last.status, (statuses.get(last.status) ?? 0) + 1);
      if (i > 0) cpus.push(server.cpuMs() - before);
    }
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rss());
    }, 20);
    const together = await Promise.all(Array.from({ length: 10 }, () => run(query, variables)));
    clearInterval(sampler);
    for (const { status } of together) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    cpus.sort((a, b) => a - b);
    console.log(
      `${name.padEnd(15)} ${last.status} ${String(last.text.length).padStart(8)} B  cpu median ${cpus[2]} ms, max ${cpus[4]} ms  rss ${mb(server.rss())}, peak so far ${mb(peak)}`,
    );
  }
  console.log(`statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
}

/** 100,000 requests to `serve`, each with its own operation name: /metrics' size and the server's RSS. */
async function metrics() {
  const { directory, databasePath, db } = freshDatabase('metrics.db');
  db.$client.close();
  const server = await serveInProduction(databasePath);
  const metricsUrl = `${server.url}/metrics`;
  const scrape = async () => (await (await fetch(metricsUrl)).text()).length;
  const TOTAL = 100_000;
  const CLIENTS = 8;
  let sent = 0;
  const client = async () => {
    while (sent < TOTAL) {
      const i = sent++;
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `query Unique${i} { __typename }` }),
      });
      await response.arrayBuffer();
      if ((i + 1) % 20_000 === 0 || i === 999) {
        console.log(
          `${String(i + 1).padStart(7)} requests: /metrics ${await scrape()} B, server rss ${mb(server.rss())}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
}

/** One address opening 4,000 SSE subscriptions to `serve`, holding each it gets: the server's RSS. */
async function subscriptions() {
  const { subscribe } = await import('../ecosystem/sse.ts');
  const { directory, databasePath, db } = freshDatabase('subscriptions.db');
  const review = aReview(db);
  db.$client.close();
  const server = await serveInProduction(databasePath, settingsFromArguments());
  const origin = server.url;
  const before = server.rss();
  const statuses = new Map<number, number>();
  const held: AbortController[] = [];
  for (let i = 0; i < 4000; i++) {
    const controller = new AbortController();
    const query = 'subscription($r: ID!) { commentAdded(reviewId: $r) { id body } }';
    const response = await subscribe(origin, query, { r: review.globalId }, controller.signal);
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status === 200) held.push(controller);
    else await response.body?.cancel();
  }
  console.log(
    `statuses ${JSON.stringify(Object.fromEntries(statuses))}; server rss ${mb(before)} -> ${mb(server.rss())}`,
  );
  for (const controller of held) controller.abort();
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
}

/** Distinct documents of one long string literal each, under MAX_BODY_BYTES and every document limit. */
const LARGE_DOCUMENTS = 1000;
const LITERAL_LENGTH = 900 * 1024;
const SEQUENTIAL_DOCUMENTS = 30;

/**
 * 1,000 distinct ~900 KB documents to `serve`: the first SEQUENTIAL_DOCUMENTS one at a time (the
 * most CPU one of them took), the rest four at a time; the server's RSS after the first 100 and
 * after all.
 */
async function documents() {
  const { directory, databasePath, db } = freshDatabase('documents.db');
  db.$client.close();
  const env = settingsFromArguments();
  const server = await serveInProduction(databasePath, env);
  const literal = 'x'.repeat(LITERAL_LENGTH);
  const statuses = new Map<string, number>();
  let maxCpu = 0;
  let after100 = 0;
  let next = 0;
  const sendOne = async (i: number) => {
    const query = `query Large${i} { reviews(subject: "${i}${literal}") { nodes { id } } }`;
    const before = server.cpuMs();
    const status = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    }).then(
      async (response) => (await response.text()) && String(response.status),
      (error: Error) => `failed: ${(error.cause as Error | undefined)?.message ?? error.message}`,
    );
    if (i < SEQUENTIAL_DOCUMENTS) maxCpu = Math.max(maxCpu, server.cpuMs() - before);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (i === 99) after100 = server.rss();
  };
  const sendNext = async (): Promise<void> => {
    const i = next++;
    if (i >= LARGE_DOCUMENTS) return;
    await sendOne(i);
    return sendNext();
  };
  const started = server.rss();
  // One at a time first: the host's CPU over one request is that request's.
  for (; next < SEQUENTIAL_DOCUMENTS; next++) await sendOne(next);
  await Promise.all(Array.from({ length: 4 }, sendNext));
  const after = server.rss();
  console.log(
    `${JSON.stringify(env)} statuses ${JSON.stringify(Object.fromEntries(statuses))}; rss ${mb(started)} at start, ${mb(after100)} after 100, ${mb(after)} after ${LARGE_DOCUMENTS} (${(((after - after100) / after100) * 100).toFixed(1)} %); CPU per request at most ${maxCpu} ms (the first ${SEQUENTIAL_DOCUMENTS}, one at a time)`,
  );
  for (const entry of server.logs.filter((line) => Number(line.level) >= 40).slice(-5))
    console.log(JSON.stringify(entry));
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
}

const parts: Record<string, () => Promise<void>> = { worst, served, metrics, subscriptions, documents };
const part = parts[process.argv[2] ?? 'worst'];
if (!part) throw new Error(`usage: figures.ts ${Object.keys(parts).join('|')}`);
await part();
