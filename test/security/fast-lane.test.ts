import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { sha256Hex } from '../../src/http/persisted-operations.ts';
import { servedWithLane } from '../reads/lane.ts';
import { tokenFor } from '../support/app.ts';
import { aReview, aUser } from '../support/fixtures.ts';

const REVIEW = 'query Review($id: ID!) { review(id: $id) { id title author { name } } }';
const PAGE = 'query Page($n: Int!) { reviews(first: $n) { nodes { title comments(first: 50) { nodes { body } } } } }';
const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }`;

let served: Awaited<ReturnType<typeof servedWithLane>> | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

/** A served app over a database with one review, its id, and the lane made to know REVIEW. */
async function serve(overrides: Partial<Config> = {}) {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  aUser(db, 'alice');
  const { globalId } = aReview(db, { authorId: 'alice', title: 'Hot and fast' });
  served = await servedWithLane(db, { rateLimit: true, ...overrides });
  const review = { body: { query: REVIEW, variables: { id: globalId } } };
  await served.throughYoga(review);
  return { served, review, globalId };
}

describe('the fast lane applies every rule Yoga applies, over real HTTP', () => {
  it('answers a known document itself, logged and counted as Yoga logs and counts it', async () => {
    const { served, review } = await serve();
    const answer = await served.overHttp({ ...review, headers: { 'x-request-id': 'trace-1' } });
    expect(answer.status).toBe(200);
    expect(await served.laneAnswers()).toBe(1);
    expect(served.requestLines.at(-1)).toMatchObject({
      reqId: 'trace-1',
      method: 'POST',
      status: 200,
      path: '/graphql',
      operationName: 'Review',
      operationType: 'query',
    });
    const metrics = await (await served.app.fetch('http://localhost/metrics')).text();
    expect(metrics).toMatch(
      /reviews_api_http_request_duration_seconds_count\{method="POST",status="200",operation="Review"\} 2/,
    );
  });

  it('refuses a CORS-simple POST without a CSRF header with 403, as Yoga does', async () => {
    const { served, review } = await serve();
    const simple = { ...review, headers: { 'content-type': 'text/plain' } };
    const refused = await served.overHttp(simple);
    expect(refused.status).toBe(403);
    expect(refused).toEqual(await served.throughYoga(simple));
    expect(await served.laneAnswers()).toBe(0);
  });

  it('reads the viewer from the token, and answers a bad token as Yoga does', async () => {
    const { served } = await serve();
    const viewer = { body: { query: '{ viewer { name } }' }, token: await tokenFor('alice') };
    const yoga = await served.throughYoga(viewer);
    const signedIn = await served.overHttp(viewer);
    expect(signedIn).toEqual(yoga);
    expect(JSON.parse(signedIn.body).data.viewer).toEqual({ name: 'alice' });
    for (const token of ['not-a-token', `${viewer.token}x`]) {
      const bad = { ...viewer, token };
      expect(await served.overHttp(bad)).toEqual(await served.throughYoga(bad));
    }
    expect(await served.laneAnswers()).toBe(3);
  });

  it('answers 429 to mutations past the rate limit, and reads on', async () => {
    const { served, review } = await serve({ rateLimitIpPerMinute: 2 });
    const alice = await tokenFor('alice');
    const create = (subject: string) => ({
      body: { query: CREATE, variables: { input: { subject, rating: 4, title: 'Fine', body: 'Works.' } } },
      token: alice,
    });
    expect((await served.overHttp(create('a'))).status).toBe(200);
    expect((await served.overHttp(create('b'))).status).toBe(200);
    const refused = await served.overHttp(create('c'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect((await served.overHttp(review)).status).toBe(200);
    expect(await served.laneAnswers()).toBe(1);
  });

  it('refuses a document over the cost limit whatever its variables, as Yoga does', async () => {
    const { served } = await serve({ maxCost: 5000 });
    const page = (n: number) => ({ body: { query: PAGE, variables: { n } } });
    await served.throughYoga(page(2));
    const admitted = await served.overHttp(page(2));
    expect(admitted.body).toContain('"data"');
    const refused = await served.overHttp(page(100));
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(refused).toEqual(await served.throughYoga(page(100)));
    expect(await served.laneAnswers()).toBe(1);
  });

  it('refuses a body over MAX_BODY_BYTES with 413, and an answer over MAX_RESPONSE_BYTES, as Yoga does', async () => {
    const { served, review } = await serve({ maxBodyBytes: 300 });
    const padded = { body: `${JSON.stringify(review.body)}${' '.repeat(300)}` };
    const refused = await served.overHttp(padded);
    expect(refused.status).toBe(413);
    expect(refused).toEqual(await served.throughYoga(padded));
    await served.close();
    const small = await serve({ maxResponseBytes: 40 });
    const tooLarge = await small.served.overHttp(small.review);
    expect(JSON.parse(tooLarge.body).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(tooLarge).toEqual(await small.served.throughYoga(small.review));
    expect(await small.served.laneAnswers()).toBe(0);
  });

  it('runs only trusted documents by id when TRUSTED_DOCUMENTS=on, never their text', async () => {
    const manifest = join(mkdtempSync(join(tmpdir(), 'lane-')), 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ [sha256Hex(REVIEW)]: REVIEW }));
    const db = openDatabase(':memory:');
    applyMigrations(db);
    aUser(db, 'alice');
    const { globalId } = aReview(db, { authorId: 'alice' });
    served = await servedWithLane(db, { trustedDocuments: true, trustedDocumentsManifest: manifest });
    const persistedQuery = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
    const byId = { body: { extensions: persistedQuery(sha256Hex(REVIEW)), variables: { id: globalId } } };
    await served.throughYoga(byId);
    const answered = await served.overHttp(byId);
    expect(answered).toEqual(await served.throughYoga(byId));
    expect(answered.status).toBe(200);
    const byText = { body: { query: REVIEW, variables: { id: globalId } } };
    const refused = await served.overHttp(byText);
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('CANNOT_SEND_PQ_ID_AND_BODY');
    const unknown = { body: { extensions: persistedQuery(sha256Hex('{ __typename }')) } };
    expect(JSON.parse((await served.overHttp(unknown)).body).errors[0].extensions.code).toBe(
      'PERSISTED_QUERY_NOT_IN_LIST',
    );
    expect(await served.laneAnswers()).toBe(1);
  });

  it('runs a document registered by APQ by its hash alone', async () => {
    const { served, review } = await serve();
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256Hex(REVIEW) } };
    await served.throughYoga({ body: { ...review.body, extensions } });
    const byHash = { body: { variables: review.body.variables, extensions } };
    const answered = await served.overHttp(byHash);
    expect(answered.status).toBe(200);
    expect(answered).toEqual(await served.throughYoga(byHash));
    expect(await served.laneAnswers()).toBe(1);
  });

  it('steps aside with RESPONSE_CACHE=on', async () => {
    const { served, review } = await serve({ responseCache: true });
    expect((await served.overHttp(review)).status).toBe(200);
    expect(await served.laneAnswers()).toBe(0);
  });
});
