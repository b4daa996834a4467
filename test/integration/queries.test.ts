import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, dataOf, errorCode, type GraphQLResponse, type TestApp, tokenFor } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';

let t: TestApp;
beforeEach(() => {
  t = createTestApp();
});

type Listing = { reviews: { nodes: { title: string }[] } };
const titles = (response: GraphQLResponse) => (dataOf(response) as Listing).reviews.nodes.map((r) => r.title);

describe('reviews', () => {
  beforeEach(() => {
    aReview(t.db, { title: 'a', subject: 'tea', rating: 2, authorId: 'alice', createdAt: 1_000 });
    aReview(t.db, { title: 'b', subject: 'tea', rating: 5, authorId: 'bob', createdAt: 2_000 });
    aReview(t.db, { title: 'c', subject: 'coffee', rating: 4, authorId: 'alice', createdAt: 3_000 });
    aReview(t.db, { title: 'd', subject: 'tea', rating: 4, authorId: 'carol', createdAt: 4_000 });
  });

  it('orders newest first by default, and by each ReviewOrder', async () => {
    expect(titles(await t.gql('{ reviews { nodes { title } } }'))).toEqual(['d', 'c', 'b', 'a']);
    expect(titles(await t.gql('{ reviews(orderBy: OLDEST) { nodes { title } } }'))).toEqual(['a', 'b', 'c', 'd']);
    expect(titles(await t.gql('{ reviews(orderBy: RATING_HIGH) { nodes { title } } }'))).toEqual(['b', 'd', 'c', 'a']);
    expect(titles(await t.gql('{ reviews(orderBy: RATING_LOW) { nodes { title } } }'))).toEqual(['a', 'c', 'd', 'b']);
  });

  it('filters by subject, author and minimum rating, and counts what it filters', async () => {
    const tea = await t.gql('{ reviews(subject: "tea") { totalCount nodes { title } } }');
    expect(tea.data?.reviews.totalCount).toBe(3);
    expect(titles(tea)).toEqual(['d', 'b', 'a']);
    const byAlice = await t.gql('query($a: ID) { reviews(authorId: $a) { totalCount nodes { title } } }', {
      a: encodeGlobalID('User', 'alice'),
    });
    expect([byAlice.data?.reviews.totalCount, titles(byAlice)]).toEqual([2, ['c', 'a']]);
    const good = await t.gql('{ reviews(subject: "tea", minRating: 4) { totalCount nodes { title } } }');
    expect([good.data?.reviews.totalCount, titles(good)]).toEqual([2, ['d', 'b']]);
  });

  it('refuses a minRating outside 1..5 and an authorId that is not a User', async () => {
    expect(errorCode(await t.gql('{ reviews(minRating: 6) { totalCount } }'))).toBe('BAD_USER_INPUT');
    const notUser = await t.gql('query($a: ID) { reviews(authorId: $a) { totalCount } }', {
      a: encodeGlobalID('Review', 1),
    });
    expect(errorCode(notUser)).toBe('BAD_USER_INPUT');
  });
});

describe('review, node, nodes', () => {
  it('finds a review by global id, and null for a missing one', async () => {
    const review = aReview(t.db, { title: 'found' });
    const found = await t.gql('query($id: ID!) { review(id: $id) { title } }', { id: review.globalId });
    expect(found.data?.review).toEqual({ title: 'found' });
    const missing = await t.gql('query($id: ID!) { review(id: $id) { title } }', { id: encodeGlobalID('Review', 999) });
    expect(missing).toMatchObject({ data: { review: null } });
    expect(missing.errors).toBeUndefined();
  });

  it('resolves reviews, comments and users through node and nodes', async () => {
    const review = aReview(t.db, { title: 'T', authorId: 'alice' });
    const comment = aComment(t.db, { reviewId: review.id, body: 'B' });
    const user = encodeGlobalID('User', 'alice');
    const response = await t.gql(
      `query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on Review { title } ... on Comment { body } ... on User { name } } }`,
      { ids: [review.globalId, comment.globalId, user, encodeGlobalID('Review', 404)] },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?.nodes).toEqual([
      { __typename: 'Review', title: 'T' },
      { __typename: 'Comment', body: 'B' },
      { __typename: 'User', name: 'alice' },
      null,
    ]);
  });
});

describe('ratingSummary', () => {
  it('counts, averages and histograms one subject', async () => {
    for (const rating of [5, 5, 4, 1]) aReview(t.db, { subject: 'kettle', rating });
    aReview(t.db, { subject: 'other', rating: 3 });
    const response = await t.gql('{ ratingSummary(subject: "kettle") { subject count average histogram } }');
    expect(response.data?.ratingSummary).toEqual({
      subject: 'kettle',
      count: 4,
      average: 3.75,
      histogram: [1, 0, 0, 1, 2],
    });
  });

  it('is empty with a null average for an unknown subject', async () => {
    const response = await t.gql('{ ratingSummary(subject: "nothing") { count average histogram } }');
    expect(response.data?.ratingSummary).toEqual({ count: 0, average: null, histogram: [0, 0, 0, 0, 0] });
  });
});

describe('viewer and User.reviews', () => {
  it('is null when anonymous, and the signed-in user with their reviews otherwise', async () => {
    aUser(t.db, 'alice', 'Alice');
    aReview(t.db, { authorId: 'alice', title: 'old', createdAt: 1 });
    aReview(t.db, { authorId: 'alice', title: 'new', createdAt: 2 });
    aReview(t.db, { authorId: 'bob' });
    const query = '{ viewer { id name reviews(first: 10) { totalCount nodes { title } } } }';
    expect((await t.gql(query)).data?.viewer).toBeNull();
    const signedIn = await t.gql(query, {}, await tokenFor('alice', { name: 'Alice' }));
    expect(signedIn.data?.viewer).toEqual({
      id: encodeGlobalID('User', 'alice'),
      name: 'Alice',
      reviews: { totalCount: 2, nodes: [{ title: 'new' }, { title: 'old' }] },
    });
  });
});
