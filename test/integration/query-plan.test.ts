import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/** The page query from the issue: reviews with authors, comment counts and first comments. */
const pageQuery = (first: number) =>
  `{ reviews(first: ${first}) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }`;

function seed(reviews: number, commentsEach: number) {
  const t = createTestApp();
  for (let r = 0; r < reviews; r++) {
    const review = aReview(t.db, { createdAt: r });
    for (let c = 0; c < commentsEach; c++) aComment(t.db, { reviewId: review.id, createdAt: c });
  }
  t.statements.length = 0;
  return t;
}

describe('the page query', () => {
  it('runs the same small number of SQL statements for 1 review as for 50', async () => {
    const t = seed(60, 7);
    const counts: number[] = [];
    for (const first of [1, 50]) {
      t.statements.length = 0;
      const response = await t.gql(pageQuery(first));
      expect(response.errors).toBeUndefined();
      expect(response.data?.reviews.nodes).toHaveLength(first);
      expect(response.data?.reviews.nodes[0].comments.nodes).toHaveLength(5);
      expect(response.data?.reviews.nodes[0].commentCount).toBe(7);
      counts.push(t.statements.length);
    }
    expect(counts[0]).toBeLessThanOrEqual(3);
    expect(counts[1]).toBe(counts[0]);
  });

  it('stays constant with totalCount on both connections', async () => {
    const t = seed(30, 3);
    const counts: number[] = [];
    for (const first of [2, 25]) {
      t.statements.length = 0;
      await t.gql(
        `{ reviews(first: ${first}) { totalCount nodes { commentCount comments(first: 2) { totalCount nodes { author { name } } } } } }`,
      );
      counts.push(t.statements.length);
    }
    expect(counts[1]).toBe(counts[0]);
  });
});

describe('listing queries', () => {
  it('read through an index for every order and filter (no full table scan, no temp sort)', async () => {
    const t = seed(20, 2);
    const listings = [
      '{ reviews(first: 5) { nodes { id } } }',
      '{ reviews(first: 5, orderBy: OLDEST) { nodes { id } } }',
      '{ reviews(first: 5, orderBy: RATING_HIGH) { nodes { id } } }',
      '{ reviews(first: 5, orderBy: RATING_LOW) { nodes { id } } }',
      '{ reviews(first: 5, subject: "subject-3") { nodes { id } } }',
      '{ reviews(first: 5, subject: "subject-3", orderBy: RATING_HIGH) { nodes { id } } }',
      '{ reviews(first: 5, authorId: "VXNlcjp1c2VyLTE=") { nodes { id } } }',
      '{ reviews(first: 5) { nodes { comments(first: 3) { nodes { id } } } } }',
      '{ viewer { reviews(first: 3) { nodes { id } } } }',
    ];
    for (const listing of listings) {
      t.statements.length = 0;
      const response = await t.gql(listing);
      expect(response.errors, listing).toBeUndefined();
      for (const statement of t.statements) {
        const params = (statement.match(/\?/g) ?? []).map(() => 1);
        const plan = t.db.$client
          .prepare(`explain query plan ${statement}`)
          .all(...params)
          .map((row) => (row as { detail: string }).detail);
        const scans = plan.filter((step) => /^SCAN (reviews|comments|users)\b/.test(step) || /TEMP B-TREE/.test(step));
        expect(scans, `${listing}\n${plan.join('\n')}`).toEqual([]);
      }
    }
  });
});
