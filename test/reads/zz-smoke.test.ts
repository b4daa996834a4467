import { it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { tokenFor } from '../support/app.ts';
import { aComment, aReview } from '../support/fixtures.ts';
import { bothPaths } from './both-paths.ts';

it('smoke', async () => {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const r = aReview(db, { createdAt: 1700000000123, subject: 's', authorId: 'alice' });
  aReview(db, { createdAt: 1700000000123, subject: 's', rating: 2 });
  aComment(db, { reviewId: r.id, createdAt: 5 });
  aComment(db, { reviewId: r.id, createdAt: 5 });
  const both = bothPaths(db);
  const token = await tokenFor('alice', { name: 'Alice' });
  const docs: [string, Record<string, unknown>?][] = [
    [
      '{ reviews(first: 2) { nodes { id title createdAt author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }',
    ],
    [
      '{ reviews(first: 1) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }',
    ],
    ['query($id: ID!) { review(id: $id) { id subject rating __typename } }', { id: r.globalId }],
    ['{ ratingSummary(subject: "s") { subject count average histogram } }'],
    ['{ ratingSummary(subject: "none") { subject count average histogram } }'],
    [
      'query($id: ID!) { node(id: $id) { id ... on Review { title } ...F } } fragment F on Comment { body }',
      { id: r.globalId },
    ],
    [
      'query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }',
      { ids: [r.globalId, 'VXNlcjphbGljZQ==', 'UmV2aWV3Ojk5'] },
    ],
    ['{ viewer { id name reviews(first: 1) { nodes { title } } } }'],
    [
      'query($id: ID!) { reviewComments(reviewId: $id, last: 1) { edges { cursor node { body } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }',
      { id: r.globalId },
    ],
    ['query($id: ID!) { reviewComments(reviewId: $id) { totalCount } }', { id: 'UmV2aWV3Ojk5' }],
    ['query($id: ID!) { review(id: $id) { id } }', { id: 'bad' }],
  ];
  for (const [q, v] of docs) {
    const a = await both.ask(q, v ?? {}, token);
    console.log(
      a.path,
      a.compiled === a.ordinary ? 'SAME' : `DIFF\n  ${a.compiled}\n  ${a.ordinary}`,
      q.slice(0, 60),
      a.reasons.join(' | '),
    );
  }
});
