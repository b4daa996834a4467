import { beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, errorCode, signedInUsers, type TestApp, tokenFor } from '../support/app.ts';
import { aComment, aReview, snapshot } from '../support/fixtures.ts';

const CREATE = `mutation($input: CreateReviewInput!) {
  createReview(input: $input) { review { id subject rating title body version author { id name } commentCount } }
}`;
const UPDATE = `mutation($input: UpdateReviewInput!) { updateReview(input: $input) { review { id rating title body version } } }`;
const DELETE = `mutation($input: DeleteReviewInput!) { deleteReview(input: $input) { deletedId } }`;

const valid = { subject: 'espresso-machine', rating: 5, title: 'Great crema', body: 'Hot and fast.' };

let t: TestApp;
let alice: string;
let bob: string;
let moderator: string;

beforeEach(async () => {
  t = createTestApp();
  ({ alice, bob, moderator } = await signedInUsers());
});

describe('createReview', () => {
  it('creates a review by the token user, trimmed, at version 1', async () => {
    const response = await t.gql(CREATE, { input: { ...valid, title: '  Great crema \n' } }, alice);
    expect(response.errors).toBeUndefined();
    expect(response.data?.createReview.review).toMatchObject({
      subject: 'espresso-machine',
      rating: 5,
      title: 'Great crema',
      version: 1,
      author: { name: 'Alice' },
      commentCount: 0,
    });
  });

  it('allows one review per user per subject', async () => {
    await t.gql(CREATE, { input: valid }, alice);
    const before = snapshot(t.db);
    const again = await t.gql(CREATE, { input: { ...valid, title: 'Second thoughts' } }, alice);
    expect(errorCode(again)).toBe('CONFLICT');
    expect(snapshot(t.db)).toEqual(before);
    const other = await t.gql(CREATE, { input: valid }, bob);
    expect(other.errors).toBeUndefined();
  });

  it.each([
    ['rating 0', { rating: 0 }],
    ['rating 6', { rating: 6 }],
    ['blank title', { title: '   ' }],
    ['title of 201 characters', { title: 't'.repeat(201) }],
    ['empty subject', { subject: '' }],
    ['subject of 201 characters', { subject: 's'.repeat(201) }],
    ['body of 10,001 characters', { body: 'b'.repeat(10_001) }],
    ['NUL in the body', { body: 'a\u0000b' }],
    ['a lone surrogate in the title', { title: 'x\ud800y' }],
    ['an idempotency key with spaces', { idempotencyKey: 'a b' }],
  ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_name, change) => {
    const before = snapshot(t.db);
    const response = await t.gql(CREATE, { input: { ...valid, ...change } }, alice);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(snapshot(t.db)).toEqual(before);
  });

  it('counts characters, not UTF-16 units: 200 emoji is a valid title', async () => {
    const response = await t.gql(CREATE, { input: { ...valid, title: '🍕'.repeat(200) } }, alice);
    expect(response.errors).toBeUndefined();
    expect(response.data?.createReview.review.title).toBe('🍕'.repeat(200));
  });

  it('refuses writes without a token, with an expired token and with a forged one', async () => {
    const expired = await tokenFor('alice', { expiresIn: '-1m' });
    const forged = `${alice.slice(0, -4)}AAAA`;
    for (const token of [undefined, expired, forged]) {
      const response = await t.gql(CREATE, { input: valid }, token);
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
    }
    expect(snapshot(t.db).reviews).toEqual([]);
  });

  it('answers a retry with the same idempotencyKey with the first review, writing once', async () => {
    const input = { ...valid, idempotencyKey: 'create-1' };
    const first = await t.gql(CREATE, { input }, alice);
    const retry = await t.gql(CREATE, { input }, alice);
    expect(retry.errors).toBeUndefined();
    expect(retry.data?.createReview.review.id).toBe(first.data?.createReview.review.id);
    expect(snapshot(t.db).reviews).toHaveLength(1);
  });

  it('refuses an idempotencyKey reused for a different request', async () => {
    await t.gql(CREATE, { input: { ...valid, idempotencyKey: 'k' } }, alice);
    const reused = await t.gql(CREATE, { input: { ...valid, subject: 'grinder', idempotencyKey: 'k' } }, alice);
    expect(errorCode(reused)).toBe('CONFLICT');
  });

  it('keeps idempotency keys per user', async () => {
    const input = { ...valid, idempotencyKey: 'same-key' };
    const a = await t.gql(CREATE, { input }, alice);
    const b = await t.gql(CREATE, { input }, bob);
    expect(b.errors).toBeUndefined();
    expect(b.data?.createReview.review.id).not.toBe(a.data?.createReview.review.id);
  });
});

describe('updateReview', () => {
  it('changes only the given fields and bumps the version by one each time', async () => {
    const review = aReview(t.db, { authorId: 'alice', rating: 2, title: 'Meh' });
    const first = await t.gql(UPDATE, { input: { id: review.globalId, rating: 4 } }, alice);
    expect(first.data?.updateReview.review).toMatchObject({ rating: 4, title: 'Meh', version: 2 });
    const second = await t.gql(UPDATE, { input: { id: review.globalId, title: 'Better', expectedVersion: 2 } }, alice);
    expect(second.data?.updateReview.review).toMatchObject({ rating: 4, title: 'Better', version: 3 });
  });

  it('refuses a stale expectedVersion and changes nothing', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    await t.gql(UPDATE, { input: { id: review.globalId, rating: 1 } }, alice);
    const before = snapshot(t.db);
    const stale = await t.gql(UPDATE, { input: { id: review.globalId, rating: 5, expectedVersion: 1 } }, alice);
    expect(errorCode(stale)).toBe('CONFLICT');
    expect(stale.errors?.[0]?.extensions?.currentVersion).toBe(2);
    expect(snapshot(t.db)).toEqual(before);
  });

  it('lets only the author edit: not another user, not a moderator', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    const before = snapshot(t.db);
    expect(errorCode(await t.gql(UPDATE, { input: { id: review.globalId, rating: 1 } }, bob))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(UPDATE, { input: { id: review.globalId, rating: 1 } }, moderator))).toBe('FORBIDDEN');
    expect(snapshot(t.db)).toEqual(before);
  });

  it('refuses an update that changes nothing', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    expect(errorCode(await t.gql(UPDATE, { input: { id: review.globalId } }, alice))).toBe('BAD_USER_INPUT');
  });

  it('says NOT_FOUND for a missing review and BAD_USER_INPUT for an id of another type', async () => {
    const comment = aComment(t.db, { reviewId: aReview(t.db).id });
    expect(errorCode(await t.gql(UPDATE, { input: { id: 'UmV2aWV3Ojk5OQ==', rating: 1 } }, alice))).toBe('NOT_FOUND');
    expect(errorCode(await t.gql(UPDATE, { input: { id: comment.globalId, rating: 1 } }, alice))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await t.gql(UPDATE, { input: { id: 'not-base64!', rating: 1 } }, alice))).toBe('BAD_USER_INPUT');
  });
});

describe('deleteReview', () => {
  it('deletes the review and its comments', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    aComment(t.db, { reviewId: review.id });
    aComment(t.db, { reviewId: review.id });
    const other = aReview(t.db);
    aComment(t.db, { reviewId: other.id });
    const response = await t.gql(DELETE, { input: { id: review.globalId } }, alice);
    expect(response.data?.deleteReview.deletedId).toBe(review.globalId);
    const rows = snapshot(t.db);
    expect(rows.reviews.map((r) => r.id)).toEqual([other.id]);
    expect(rows.comments.map((c) => c.reviewId)).toEqual([other.id]);
  });

  it('lets a moderator delete any review, but not another user', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    expect(errorCode(await t.gql(DELETE, { input: { id: review.globalId } }, bob))).toBe('FORBIDDEN');
    expect(snapshot(t.db).reviews).toHaveLength(1);
    const response = await t.gql(DELETE, { input: { id: review.globalId } }, moderator);
    expect(response.errors).toBeUndefined();
    expect(snapshot(t.db).reviews).toHaveLength(0);
  });

  it('refuses a stale expectedVersion', async () => {
    const review = aReview(t.db, { authorId: 'alice' });
    expect(errorCode(await t.gql(DELETE, { input: { id: review.globalId, expectedVersion: 7 } }, alice))).toBe(
      'CONFLICT',
    );
    expect(snapshot(t.db).reviews).toHaveLength(1);
  });
});

describe('a node that may not write', () => {
  it('answers READ_ONLY with the reason and writes nothing', async () => {
    const readOnly = createTestApp({
      node: { whyReadOnly: () => 'standby', describe: () => ({ role: 'standby' }) },
    });
    const response = await readOnly.gql(CREATE, { input: valid }, alice);
    expect(errorCode(response)).toBe('READ_ONLY');
    expect(response.errors?.[0]?.message).toContain('standby');
    expect(snapshot(readOnly.db).reviews).toEqual([]);
  });
});
