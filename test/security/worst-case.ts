/**
 * The figures SECURITY.md reports (not a test: `node --import tsx test/security/worst-case.ts`):
 * on the largest data one account's rows can give every connection (100 reviews of 10,000
 * characters, 100 comments of 5,000 on each), the CPU time and RSS of the most expensive
 * documents the default limits accept, and that each heavier variant is refused.
 */
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';
import { testConfig } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';

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

async function main() {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const author = aUser(db, 'mallory');
  const ids: string[] = [];
  for (let r = 0; r < 100; r++) {
    const review = aReview(db, { authorId: author, body: 'r'.repeat(10_000) });
    ids.push(review.globalId);
    for (let c = 0; c < 100; c++) aComment(db, { reviewId: review.id, authorId: author, body: 'c'.repeat(5000) });
  }
  const app = createApp({ db, config: { ...testConfig, env: 'production' } });
  const run = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, text: await response.text() };
  };
  for (let [name, query] of Object.entries(WORST_DOCUMENTS)) {
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
    const error = last.text.startsWith('{"errors"') ? last.text.slice(0, 120) : '';
    console.log(
      `${name.padEnd(16)} status ${last.status} ${String(last.text.length).padStart(9)} B  cpu median ${cpus.sort((a, b) => a - b)[2]?.toFixed(1)} ms  max ${cpus[4]?.toFixed(1)} ms  rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB ${error}`,
    );
  }
}

await main();
