import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { servedWithLane } from '../reads/lane.ts';
import { tokenFor } from '../support/app.ts';
import { aReview, aUser } from '../support/fixtures.ts';

const FRONT_END = 'http://app.example:5173';
const ELSEWHERE = 'https://evil.example';
const REVIEW = 'query Review($id: ID!) { review(id: $id) { id title } }';
const ADD_COMMENT = 'mutation Add($input: AddCommentInput!) { addComment(input: $input) { comment { body } } }';

let served: Awaited<ReturnType<typeof servedWithLane>> | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

/** A server that lets FRONT_END in (CORS_ORIGINS), over a database with one review. */
async function serve() {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  aUser(db, 'alice');
  const { globalId } = aReview(db, { authorId: 'alice', title: 'Hot and fast' });
  served = await servedWithLane(db, { corsOrigins: [FRONT_END] });
  return { served, reviewId: globalId, origin: new URL(served.url).origin };
}

describe('CORS over real HTTP: CORS_ORIGINS lets listed front ends in, with credentials', () => {
  it('lets a listed origin read answers with credentials, from Yoga and from the fast lane alike', async () => {
    const { served, reviewId } = await serve();
    const read = { body: { query: REVIEW, variables: { id: reviewId } }, headers: { origin: FRONT_END } };
    const yoga = await served.overHttp(read);
    const lane = await served.overHttp(read);
    expect(await served.laneAnswers()).toBe(1);
    for (const answer of [yoga, lane]) {
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatchObject({
        'access-control-allow-origin': FRONT_END,
        'access-control-allow-credentials': 'true',
        vary: expect.stringContaining('Origin'),
      });
      expect(answer.headers['access-control-expose-headers']).toContain('x-reviews-api-position');
    }
    expect(lane).toEqual(yoga);
  });

  it('gives mutations answered by the mutation lane the same headers as Yoga', async () => {
    const { served, reviewId } = await serve();
    const token = await tokenFor('alice');
    const write = (body: string) => ({
      body: { query: ADD_COMMENT, variables: { input: { reviewId, body } } },
      token,
      headers: { origin: FRONT_END },
    });
    const yoga = await served.overHttp(write('first'));
    const lane = await served.overHttp(write('second'));
    expect(await served.laneWrites()).toBe(1);
    expect(lane.headers).toEqual(yoga.headers);
    expect(lane.headers['access-control-allow-origin']).toBe(FRONT_END);
  });

  it('gives an origin not listed no Access-Control-Allow-Origin, so its page cannot read the answer', async () => {
    const { served, reviewId } = await serve();
    const read = { body: { query: REVIEW, variables: { id: reviewId } }, headers: { origin: ELSEWHERE } };
    for (const answer of [await served.overHttp(read), await served.overHttp(read)]) {
      expect(answer.headers['access-control-allow-origin']).toBeNull();
      expect(answer.headers['access-control-allow-credentials']).toBeNull();
      expect(answer.headers.vary).toContain('Origin');
    }
    expect(await served.laneAnswers()).toBe(1);
    const rest = await fetch(`${new URL(served.url).origin}/api/reviews/${reviewId}`, {
      headers: { origin: ELSEWHERE },
    });
    expect(rest.status).toBe(200);
    expect(rest.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers the preflight of a listed origin for every header the clients send, and REST answers too', async () => {
    const { reviewId, origin } = await serve();
    const preflight = (from: string, method: string, path = '/graphql') =>
      fetch(`${origin}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: from,
          'access-control-request-method': method,
          'access-control-request-headers': 'content-type, authorization, x-graphql-yoga-csrf, x-reviews-api-position',
        },
      });
    const allowed = await preflight(FRONT_END, 'POST');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(FRONT_END);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    const headers = allowed.headers.get('access-control-allow-headers')?.split(', ');
    expect(headers).toEqual(
      expect.arrayContaining(['content-type', 'authorization', 'x-graphql-yoga-csrf', 'x-reviews-api-position']),
    );
    const rest = await preflight(FRONT_END, 'PATCH', `/api/reviews/${reviewId}`);
    expect(rest.status).toBe(204);
    expect(rest.headers.get('access-control-allow-methods')?.split(', ')).toContain('PATCH');

    const refused = await preflight(ELSEWHERE, 'POST');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.headers.get('access-control-allow-headers')).toBeNull();

    const answer = await fetch(`${origin}/api/reviews/${reviewId}`, { headers: { origin: FRONT_END } });
    expect(answer.headers.get('access-control-allow-origin')).toBe(FRONT_END);
  });

  it('keeps the CSRF rule: a listed origin still needs the header on a GET', async () => {
    const { origin } = await serve();
    const get = (headers: Record<string, string>) =>
      fetch(`${origin}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
        headers: { origin: FRONT_END, ...headers },
      });
    const refused = await get({});
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBe(FRONT_END);
    expect((await get({ 'x-graphql-yoga-csrf': '1' })).status).toBe(200);
  });
});
