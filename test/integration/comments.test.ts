import { beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, errorCode, signedInUsers, type TestApp } from '../support/app.ts';
import { aComment, aReview, snapshot } from '../support/fixtures.ts';

const ADD = `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id body version author { name } review { id } } } }`;
const UPDATE = `mutation($input: UpdateCommentInput!) { updateComment(input: $input) { comment { id body version } } }`;
const DELETE = `mutation($input: DeleteCommentInput!) { deleteComment(input: $input) { deletedId } }`;
const ONE = `query($reviewId: ID!, $id: ID!) { comment(reviewId: $reviewId, id: $id) { id body } }`;

let t: TestApp;
let alice: string;
let bob: string;
let moderator: string;

beforeEach(async () => {
  t = createTestApp();
  ({ alice, bob, moderator } = await signedInUsers());
});

describe('addComment', () => {
  it('adds a trimmed comment by the token user to the review', async () => {
    const review = aReview(t.db);
    const response = await t.gql(ADD, { input: { reviewId: review.globalId, body: '  Agreed! ' } }, bob);
    expect(response.errors).toBeUndefined();
    expect(response.data?.addComment.comment).toMatchObject({
      body: 'Agreed!',
      version: 1,
      author: { name: 'Bob' },
      review: { id: review.globalId },
    });
  });

  it('says NOT_FOUND for a missing review and writes nothing', async () => {
    const before = snapshot(t.db);
    const response = await t.gql(ADD, { input: { reviewId: 'UmV2aWV3OjQy', body: 'hi' } }, bob);
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(snapshot(t.db)).toEqual(before);
  });

  it.each([
    ['empty', ''],
    ['blank', ' \n\t '],
    ['5,001 characters', 'c'.repeat(5_001)],
  ])('refuses a %s body', async (_name, body) => {
    const review = aReview(t.db);
    const before = snapshot(t.db);
    expect(errorCode(await t.gql(ADD, { input: { reviewId: review.globalId, body } }, bob))).toBe('BAD_USER_INPUT');
    expect(snapshot(t.db)).toEqual(before);
  });

  it('writes once per idempotencyKey', async () => {
    const review = aReview(t.db);
    const input = { reviewId: review.globalId, body: 'once', idempotencyKey: 'c-1' };
    const first = await t.gql(ADD, { input }, bob);
    const retry = await t.gql(ADD, { input }, bob);
    expect(retry.data?.addComment.comment.id).toBe(first.data?.addComment.comment.id);
    expect(snapshot(t.db).comments).toHaveLength(1);
  });

  it('needs a token', async () => {
    const review = aReview(t.db);
    expect(errorCode(await t.gql(ADD, { input: { reviewId: review.globalId, body: 'hi' } }))).toBe('UNAUTHENTICATED');
  });
});

describe('updateComment and deleteComment', () => {
  it('lets the author edit, bumping the version, and refuses a stale expectedVersion', async () => {
    const comment = aComment(t.db, { reviewId: aReview(t.db).id, authorId: 'alice' });
    const edited = await t.gql(UPDATE, { input: { id: comment.globalId, body: 'edited', expectedVersion: 1 } }, alice);
    expect(edited.data?.updateComment.comment).toMatchObject({ body: 'edited', version: 2 });
    const stale = await t.gql(UPDATE, { input: { id: comment.globalId, body: 'again', expectedVersion: 1 } }, alice);
    expect(errorCode(stale)).toBe('CONFLICT');
  });

  it('refuses edits by anyone else, moderators included', async () => {
    const comment = aComment(t.db, { reviewId: aReview(t.db).id, authorId: 'alice' });
    const before = snapshot(t.db);
    expect(errorCode(await t.gql(UPDATE, { input: { id: comment.globalId, body: 'x' } }, bob))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(UPDATE, { input: { id: comment.globalId, body: 'x' } }, moderator))).toBe('FORBIDDEN');
    expect(snapshot(t.db)).toEqual(before);
  });

  it('lets the author or a moderator delete, not another user', async () => {
    const review = aReview(t.db);
    const mine = aComment(t.db, { reviewId: review.id, authorId: 'alice' });
    const other = aComment(t.db, { reviewId: review.id, authorId: 'alice' });
    expect(errorCode(await t.gql(DELETE, { input: { id: mine.globalId } }, bob))).toBe('FORBIDDEN');
    expect((await t.gql(DELETE, { input: { id: mine.globalId } }, alice)).data?.deleteComment.deletedId).toBe(
      mine.globalId,
    );
    expect((await t.gql(DELETE, { input: { id: other.globalId } }, moderator)).errors).toBeUndefined();
    expect(snapshot(t.db).comments).toEqual([]);
    expect(errorCode(await t.gql(DELETE, { input: { id: mine.globalId } }, alice))).toBe('NOT_FOUND');
  });
});

describe('comment(reviewId, id)', () => {
  it('returns the comment only when it is on that review', async () => {
    const review = aReview(t.db);
    const elsewhere = aReview(t.db);
    const comment = aComment(t.db, { reviewId: review.id, body: 'here' });
    const found = await t.gql(ONE, { reviewId: review.globalId, id: comment.globalId });
    expect(found.data?.comment).toEqual({ id: comment.globalId, body: 'here' });
    const wrongReview = await t.gql(ONE, { reviewId: elsewhere.globalId, id: comment.globalId });
    expect(wrongReview.errors).toBeUndefined();
    expect(wrongReview.data?.comment).toBeNull();
  });
});

describe('Review.comments', () => {
  it('lists comments in conversation order, oldest first, ties broken by id', async () => {
    const review = aReview(t.db);
    const late = aComment(t.db, { reviewId: review.id, body: 'late', createdAt: 3_000 });
    const earlyA = aComment(t.db, { reviewId: review.id, body: 'early-a', createdAt: 1_000 });
    const earlyB = aComment(t.db, { reviewId: review.id, body: 'early-b', createdAt: 1_000 });
    const response = await t.gql(
      `query($id: ID!) { review(id: $id) { commentCount comments(first: 10) { totalCount nodes { id } } } }`,
      { id: review.globalId },
    );
    expect(response.data?.review.commentCount).toBe(3);
    expect(response.data?.review.comments.totalCount).toBe(3);
    expect(response.data?.review.comments.nodes.map((c: { id: string }) => c.id)).toEqual([
      earlyA.globalId,
      earlyB.globalId,
      late.globalId,
    ]);
  });
});
