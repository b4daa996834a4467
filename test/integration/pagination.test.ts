import { describe, expect, it } from 'vitest';
import { reviews as reviewsTable } from '../../src/db/schema.ts';
import { createTestApp, dataOf, type GraphQLResponse } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';

const ROWS = 500;

interface Page {
  nodes: { id: string }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string; startCursor: string };
}

/** 500 reviews sharing one createdAt, with only five distinct ratings: ties everywhere. */
function seedTies() {
  const t = createTestApp();
  const authors = Array.from({ length: 10 }, (_, i) => aUser(t.db, `author-${i}`));
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    subject: `subject-${i}`,
    rating: (i % 5) + 1,
    title: `t${i}`,
    body: 'b',
    authorId: authors[i % authors.length] as string,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
  }));
  t.db.insert(reviewsTable).values(rows).run();
  return t;
}

async function pageForward(t: ReturnType<typeof createTestApp>, orderBy: string) {
  const ids: string[] = [];
  let after: string | null = null;
  for (let guard = 0; guard < ROWS; guard++) {
    const response: GraphQLResponse<{ reviews: Page }> = await t.gql(
      'query($after: String, $orderBy: ReviewOrder) { reviews(first: 37, after: $after, orderBy: $orderBy) { nodes { id } pageInfo { hasNextPage endCursor } } }',
      { after, orderBy },
    );
    const { nodes, pageInfo } = dataOf(response).reviews;
    ids.push(...nodes.map((n) => n.id));
    if (!pageInfo.hasNextPage) break;
    after = pageInfo.endCursor;
  }
  return ids;
}

describe('cursor pagination over tied rows', () => {
  it.each(['NEWEST', 'OLDEST', 'RATING_HIGH', 'RATING_LOW'])(
    'visits every review exactly once, in order, paging %s',
    async (orderBy) => {
      const t = seedTies();
      const all = await t.gql('query($o: ReviewOrder) { reviews(first: 100, orderBy: $o) { totalCount } }', {
        o: orderBy,
      });
      expect(all.data?.reviews.totalCount).toBe(ROWS);
      const paged = await pageForward(t, orderBy);
      expect(paged).toHaveLength(ROWS);
      expect(new Set(paged).size).toBe(ROWS);
      // The same order the database gives for the whole list at once.
      const expected = t.db.$client
        .prepare(
          {
            NEWEST: 'select id from reviews order by created_at desc, id desc',
            OLDEST: 'select id from reviews order by created_at asc, id asc',
            RATING_HIGH: 'select id from reviews order by rating desc, id desc',
            RATING_LOW: 'select id from reviews order by rating asc, id asc',
          }[orderBy] as string,
        )
        .pluck()
        .all()
        .map((id) => Buffer.from(`Review:${id}`).toString('base64'));
      expect(paged).toEqual(expected);
    },
  );

  it('pages backward with last/before to the same rows', async () => {
    const t = seedTies();
    const forward = await pageForward(t, 'NEWEST');
    const backward: string[] = [];
    let before: string | null = null;
    for (let guard = 0; guard < ROWS; guard++) {
      const response: GraphQLResponse<{ reviews: Page }> = await t.gql(
        'query($before: String) { reviews(last: 37, before: $before) { nodes { id } pageInfo { hasPreviousPage startCursor } } }',
        { before },
      );
      const { nodes, pageInfo } = dataOf(response).reviews;
      backward.unshift(...nodes.map((n) => n.id));
      if (!pageInfo.hasPreviousPage) break;
      before = pageInfo.startCursor;
    }
    expect(backward).toEqual(forward);
  });

  it('pages a review’s comments with equal timestamps without skipping or repeating', async () => {
    const t = createTestApp();
    const review = aReview(t.db);
    const expected = Array.from({ length: 120 }, () => aComment(t.db, { reviewId: review.id, createdAt: 5 }).globalId);
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const response: GraphQLResponse<{ review: { comments: Page } }> = await t.gql(
        'query($id: ID!, $after: String) { review(id: $id) { comments(first: 50, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }',
        { id: review.globalId, after },
      );
      const { nodes, pageInfo } = dataOf(response).review.comments;
      seen.push(...nodes.map((n) => n.id));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);
  });
});
