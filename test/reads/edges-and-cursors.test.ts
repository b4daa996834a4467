import { encodeBase64 } from '@pothos/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { tokenFor } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';
import { bothPaths } from './both-paths.ts';
import { servedWithLane } from './lane.ts';

/**
 * Relay's `@appendEdge` / `@prependEdge` need a payload's edge to carry the cursor the
 * connection gives; and a cursor is good only on the connection and order that gave it. Each is
 * asked of the compiled path (and the mutation lane) and of the ordinary one, which must agree.
 */
const db = openDatabase(':memory:');
applyMigrations(db);
aUser(db, 'alice', 'Alice');
const first = aReview(db, { authorId: 'alice', subject: 'kettle', rating: 2, createdAt: 1_700_000_000_000 });
aReview(db, { authorId: 'bob', subject: 'kettle', rating: 5, createdAt: 1_700_000_001_000 });
const newestBefore = aReview(db, { authorId: 'carol', subject: 'kettle', rating: 3, createdAt: 1_700_000_002_000 });
aComment(db, { reviewId: first.id, authorId: 'bob', createdAt: 1_700_000_003_000 });
aComment(db, { reviewId: first.id, authorId: 'carol', createdAt: 1_700_000_004_000 });

const both = bothPaths(db);
const lane = await servedWithLane(db);
afterAll(() => lane.close());
let alice: string;
beforeAll(async () => {
  alice = await tokenFor('alice', { name: 'Alice' });
});

/** Both paths' answer, which must be the same bytes; the compiled one must have run compiled. */
async function agreed(query: string, variables: Record<string, unknown> = {}) {
  const answer = await both.ask(query, variables);
  expect(answer.compiled).toBe(answer.ordinary);
  return { ...JSON.parse(answer.ordinary.slice(4)), path: answer.path };
}

const PAGE = `query Page($order: ReviewOrder, $after: String) {
  reviews(first: 1, orderBy: $order, after: $after) { edges { cursor node { id } } pageInfo { endCursor } }
}`;
const COMMENTS = `query Comments($id: ID!, $after: String) {
  review(id: $id) { comments(first: 1, after: $after) { edges { cursor node { id body } } } }
}`;

describe('cursors carry the connection and order they page', () => {
  it('page on, with the same bytes on both paths', async () => {
    const page1 = await agreed(PAGE, { order: 'RATING_HIGH' });
    expect(page1.path).toBe('compiled');
    const page2 = await agreed(PAGE, { order: 'RATING_HIGH', after: page1.data.reviews.pageInfo.endCursor });
    expect(page2.path).toBe('compiled');
    expect(page2.data.reviews.edges[0].node.id).not.toBe(page1.data.reviews.edges[0].node.id);
  });

  it('are BAD_USER_INPUT on another order or another connection, on both paths', async () => {
    const newest = (await agreed(PAGE, { order: 'NEWEST' })).data.reviews.pageInfo.endCursor as string;
    const comment = (await agreed(COMMENTS, { id: first.globalId })).data.review.comments.edges[0].cursor as string;
    const refused = [
      await agreed(PAGE, { order: 'RATING_HIGH', after: newest }),
      await agreed(PAGE, { order: 'OLDEST', after: newest }),
      await agreed(PAGE, { order: 'NEWEST', after: comment }),
      await agreed(COMMENTS, { id: first.globalId, after: newest }),
      // plugin-drizzle's own form, as cursors were before they carried a scope.
      await agreed(PAGE, { order: 'NEWEST', after: encodeBase64('DC:T:["N:1700000001000","N:2"]') }),
    ];
    for (const answer of refused) {
      expect(answer.data).toBeUndefined();
      expect(answer.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    expect(refused[0].errors[0].message).toMatch(/cursors are valid only on the connection and order that gave them/);
    // A user's reviews are newest first, as `reviews` by NEWEST: the same cursors serve both.
    const viewerPage = await agreed(
      `query($id: ID!, $after: String) { node(id: $id) { ... on User { reviews(first: 1, after: $after) { totalCount edges { cursor } } } } }`,
      { id: encodeBase64('User:alice'), after: newest },
    );
    expect(viewerPage.errors).toBeUndefined();
  });
});

describe('mutation payloads return the edge', () => {
  it('with the cursor its connection gives the row, through the lane and through Yoga alike', async () => {
    const create = `mutation Create($input: CreateReviewInput!) {
      createReview(input: $input) { reviewEdge { cursor node { id title author { name } } } }
    }`;
    const add = `mutation Add($input: AddCommentInput!) {
      addComment(input: $input) { commentEdge { __typename cursor node { id body author { name } } } }
    }`;
    const send = async (query: string, input: Record<string, unknown>) => {
      const seen = await lane.overHttp({ body: { query, variables: { input } }, token: alice });
      return JSON.parse(seen.body);
    };
    // The first of each document runs through Yoga (and teaches the lane), the second in the lane.
    const created = [
      await send(create, { subject: 'kettle-edge-1', rating: 4, title: 'One', body: 'B' }),
      await send(create, { subject: 'kettle-edge-2', rating: 4, title: 'Two', body: 'B' }),
    ];
    const added = [
      await send(add, { reviewId: first.globalId, body: 'via Yoga' }),
      await send(add, { reviewId: first.globalId, body: 'in the lane' }),
    ];
    expect(await lane.laneWrites()).toBe(2);

    const newest = await agreed(`{ reviews(first: 2) { edges { cursor node { id title author { name } } } } }`);
    expect(newest.data.reviews.edges).toEqual(created.map((answer) => answer.data.createReview.reviewEdge).reverse());
    const comments = await agreed(
      `query($id: ID!) { review(id: $id) { comments(last: 2) { edges { __typename cursor node { id body author { name } } } } } }`,
      { id: first.globalId },
    );
    expect(comments.data.review.comments.edges).toEqual(added.map((answer) => answer.data.addComment.commentEdge));
    // A cursor from a payload pages its connection.
    const after = created[0].data.createReview.reviewEdge.cursor;
    const next = await agreed(PAGE, { order: 'NEWEST', after });
    expect(next.path).toBe('compiled');
    expect(next.data.reviews.edges[0].node.id).toBe(newestBefore.globalId);
  });
});
