import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';
import { testConfig, tokenFor } from '../support/app.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/** The app with RESPONSE_CACHE=on over its own database, counting the SQL each request runs. */
function cachedApp() {
  const statements: string[] = [];
  const db = openDatabase(':memory:', { logger: { logQuery: (query) => statements.push(query) } });
  applyMigrations(db);
  const app = createApp({ db, config: { ...testConfig, responseCache: true } });
  async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
    statements.length = 0;
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return { body: await response.text(), statements: statements.length };
  }
  return { db, gql };
}

const PAGE = '{ reviews(first: 20) { nodes { title commentCount comments(first: 5) { nodes { body } } } } }';
const SUMMARY = 'query ($subject: String!) { ratingSummary(subject: $subject) { count average } }';
const VIEWER = '{ viewer { name } }';

describe('RESPONSE_CACHE=on', () => {
  it('answers a repeated query from the cache, without touching the database', async () => {
    const { db, gql } = cachedApp();
    aReview(db, { title: 'Cached' });
    const first = await gql(PAGE);
    expect(first.statements).toBeGreaterThan(0);
    const second = await gql(PAGE);
    expect(second.statements).toBe(0);
    expect(second.body).toBe(first.body);
  });

  it('drops a cached page when a comment is added to one of its reviews', async () => {
    const { db, gql } = cachedApp();
    const review = aReview(db);
    aComment(db, { reviewId: review.id, body: 'first' });
    const before = await gql(PAGE);
    expect(JSON.parse(before.body).data.reviews.nodes[0].commentCount).toBe(1);

    const added = await gql(
      'mutation ($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }',
      { input: { reviewId: review.globalId, body: 'second' } },
      await tokenFor('writer'),
    );
    expect(JSON.parse(added.body).errors).toBeUndefined();

    const after = await gql(PAGE);
    expect(after.statements).toBeGreaterThan(0);
    const node = JSON.parse(after.body).data.reviews.nodes[0];
    expect(node.commentCount).toBe(2);
    expect(node.comments.nodes.map((c: { body: string }) => c.body)).toEqual(['first', 'second']);
  });

  it('never serves a stale rating summary after a review is created for that subject', async () => {
    const { db, gql } = cachedApp();
    aReview(db, { subject: 'kettle', rating: 2 });
    expect(JSON.parse((await gql(SUMMARY, { subject: 'kettle' })).body).data.ratingSummary).toEqual({
      count: 1,
      average: 2,
    });
    await gql(
      'mutation ($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'kettle', rating: 4, title: 'Fine', body: 'Boils.' } },
      await tokenFor('rater'),
    );
    expect(JSON.parse((await gql(SUMMARY, { subject: 'kettle' })).body).data.ratingSummary).toEqual({
      count: 2,
      average: 3,
    });
  });

  it('never shares an answer between bearer tokens', async () => {
    const { gql } = cachedApp();
    const alice = await tokenFor('alice', { name: 'Alice' });
    const bob = await tokenFor('bob', { name: 'Bob' });
    // Each becomes a user by writing once.
    for (const token of [alice, bob]) {
      await gql(
        'mutation ($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
        { input: { subject: 'toaster', rating: 3, title: 'Ok', body: 'Toasts.' } },
        token,
      );
    }
    expect(JSON.parse((await gql(VIEWER, {}, alice)).body).data.viewer.name).toBe('Alice');
    expect(JSON.parse((await gql(VIEWER, {}, bob)).body).data.viewer.name).toBe('Bob');
  });

  it('never answers viewer for a token that expired after its answer was cached', async () => {
    const { gql } = cachedApp();
    const alice = await tokenFor('alice', { name: 'Alice', expiresIn: '2s' });
    await gql(
      'mutation ($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'kettle', rating: 4, title: 'Fine', body: 'Boils.' } },
      alice,
    );
    expect(JSON.parse((await gql(VIEWER, {}, alice)).body).data.viewer.name).toBe('Alice');
    // jose: a token is expired from its `exp` second on.
    await sleep(3100);
    const expired = JSON.parse((await gql(VIEWER, {}, alice)).body);
    expect(expired.data.viewer).toBeNull();
  });

  it('keys an answer on the verified identity: a second token of the same user shares it', async () => {
    const { gql } = cachedApp();
    const first = await tokenFor('alice', { name: 'Alice' });
    const second = await tokenFor('alice', { name: 'Alice', expiresIn: '2h' });
    await gql(
      'mutation ($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'kettle', rating: 4, title: 'Fine', body: 'Boils.' } },
      first,
    );
    expect((await gql(VIEWER, {}, first)).statements).toBeGreaterThan(0);
    expect((await gql(VIEWER, {}, second)).statements).toBe(0);
  });
});
