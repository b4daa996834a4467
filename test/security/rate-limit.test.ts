import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { reviews } from '../../src/db/schema.ts';
import { tokenFor } from '../support/app.ts';
import { post, serveApp } from './served.ts';

const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }`;
const PAGE = '{ reviews(first: 5) { totalCount nodes { title } } }';

const review = (subject: string) => ({ subject, rating: 4, title: 'Fine', body: 'Works as described.' });

let served: Awaited<ReturnType<typeof serveApp>> | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

async function serve(overrides: Partial<Config>) {
  served = await serveApp(overrides);
  return served;
}

const rowCount = () => served?.db.$count(reviews);

describe('mutation rate limits, over real HTTP', () => {
  it('answer 429 RATE_LIMITED with Retry-After once a user is over the limit, and write nothing', async () => {
    const { url } = await serve({ rateLimitUserPerMinute: 3, rateLimitIpPerMinute: 100 });
    const alice = await tokenFor('alice');
    for (const subject of ['a', 'b', 'c']) {
      const accepted = await post(url, { query: CREATE, variables: { input: review(subject) } }, { token: alice });
      expect(accepted.errors).toBeUndefined();
    }
    const refused = await post(url, { query: CREATE, variables: { input: review('d') } }, { token: alice });
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.errors?.[0]?.extensions?.retryAfterSeconds).toBe(retryAfter);
    expect(await rowCount()).toBe(3);
  });

  it('never block reads, the limited user’s own or anyone else’s, nor other users’ writes', async () => {
    const { url } = await serve({ rateLimitUserPerMinute: 1, rateLimitIpPerMinute: 100 });
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
    await post(url, { query: CREATE, variables: { input: review('a') } }, { token: alice });
    expect((await post(url, { query: CREATE, variables: { input: review('b') } }, { token: alice })).status).toBe(429);
    for (const token of [alice, bob, undefined]) {
      const read = await post(url, { query: PAGE }, { token });
      expect(read.status).toBe(200);
      expect(read.data?.reviews.totalCount).toBe(1);
    }
    const bobWrites = await post(url, { query: CREATE, variables: { input: review('b') } }, { token: bob });
    expect(bobWrites.errors).toBeUndefined();
  });

  it('count every root mutation field, through aliases and fragments', async () => {
    const { url } = await serve({ rateLimitUserPerMinute: 3, rateLimitIpPerMinute: 100 });
    const alice = await tokenFor('alice');
    const create = (alias: string) =>
      `${alias}: createReview(input: { subject: "${alias}", rating: 3, title: "t", body: "b" }) { review { id } }`;
    const aliased = `mutation { ${['a', 'b', 'c', 'd'].map(create).join(' ')} }`;
    expect((await post(url, { query: aliased }, { token: alice })).status).toBe(429);
    const viaFragment = `mutation { ...Four } fragment Four on Mutation { ${['e', 'f', 'g', 'h'].map(create).join(' ')} }`;
    expect((await post(url, { query: viaFragment }, { token: alice })).status).toBe(429);
    expect(await rowCount()).toBe(0);
  });

  it('limit an IP address across users, anonymous callers included', async () => {
    const { url } = await serve({ rateLimitUserPerMinute: 100, rateLimitIpPerMinute: 3 });
    const tokens = await Promise.all(['alice', 'bob'].map((user) => tokenFor(user)));
    const statuses = [];
    for (const token of [...tokens, undefined, ...tokens]) {
      const response = await post(url, { query: CREATE, variables: { input: review('x') } }, { token });
      statuses.push(response.status);
    }
    // alice and bob write, the anonymous call is refused as unauthenticated (still counted), then the IP is out.
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(await rowCount()).toBe(2);
    expect((await post(url, { query: PAGE })).status).toBe(200);
  });

  it('count each client behind a trusted proxy apart, and ignore the header from anyone else', async () => {
    const writeAs = async (url: string, forwardedFor: string) =>
      (
        await post(
          url,
          { query: CREATE, variables: { input: review(forwardedFor) } },
          { token: await tokenFor(`user-${forwardedFor}`), headers: { 'x-forwarded-for': forwardedFor } },
        )
      ).status;
    // The test's socket comes from 127.0.0.1, here the load balancer in front.
    const behind = await serve({ rateLimitUserPerMinute: 100, rateLimitIpPerMinute: 2, trustedProxies: ['127.0.0.1'] });
    const perClient = [];
    for (const client of ['198.51.100.1', '198.51.100.1', '198.51.100.1', '198.51.100.2']) {
      perClient.push(await writeAs(behind.url, client));
    }
    expect(perClient).toEqual([200, 200, 429, 200]);
    await behind.close();
    // Not a trusted proxy: a forged header buys no fresh budget.
    const direct = await serve({ rateLimitUserPerMinute: 100, rateLimitIpPerMinute: 2, trustedProxies: ['10.0.0.1'] });
    const forged = [];
    for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      forged.push(await writeAs(direct.url, client));
    expect(forged).toEqual([200, 200, 429]);
  });

  it('apply to REST writes too: SOFA runs each route as a GraphQL operation through the same server', async () => {
    const { url } = await serve({ rateLimitUserPerMinute: 1, rateLimitIpPerMinute: 100 });
    const alice = await tokenFor('alice');
    const postReview = (subject: string) =>
      fetch(url.replace(/\/graphql$/, '/api/reviews'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
        body: JSON.stringify(review(subject)),
      });
    expect((await postReview('a')).status).toBe(201);
    const refused = await postReview('b');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await rowCount()).toBe(1);
  });

  it('are off with RATE_LIMIT=off', async () => {
    const { url } = await serve({ rateLimit: false, rateLimitUserPerMinute: 1, rateLimitIpPerMinute: 1 });
    const alice = await tokenFor('alice');
    for (const subject of ['a', 'b', 'c', 'd']) {
      const response = await post(url, { query: CREATE, variables: { input: review(subject) } }, { token: alice });
      expect(response.errors).toBeUndefined();
    }
    expect(await rowCount()).toBe(4);
  });
});
