import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { subscriptionCost } from '../../src/http/limits.ts';
import { serverSentEvents, subscribe } from '../ecosystem/sse.ts';
import { testConfig, tokenFor } from '../support/app.ts';
import { aReview } from '../support/fixtures.ts';
import { post, serveApp } from './served.ts';

const COMMENT_ADDED = 'subscription($r: ID!) { commentAdded(reviewId: $r) { id body author { name } } }';

let served: Awaited<ReturnType<typeof serveApp>> | undefined;
let streams = new AbortController();
beforeEach(() => {
  streams = new AbortController();
});
afterEach(async () => {
  streams.abort();
  await served?.close();
});

describe('subscriptions, over real HTTP', () => {
  it('refuse one address past MAX_SUBSCRIPTIONS_PER_ADDRESS with 429 and Retry-After, and free places as streams end', async () => {
    served = await serveApp({ maxSubscriptionsPerAddress: 3 });
    const origin = new URL(served.url).origin;
    const review = aReview(served.db);
    const open = [];
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const response = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, controller.signal);
      expect(response.status).toBe(200);
      open.push(controller);
    }
    // An attacker's flood: every further stream from this address is refused, none is held.
    for (let i = 0; i < 50; i++) {
      const refused = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      await refused.body?.cancel();
    }
    open.pop()?.abort();
    await expect
      .poll(async () => {
        const again = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
        return again.status;
      })
      .toBe(200);
    for (const controller of open) controller.abort();
  });

  it('refuse past MAX_SUBSCRIPTIONS in all, whoever asks', async () => {
    served = await serveApp({ maxSubscriptions: 2, maxSubscriptionsPerAddress: 10 });
    const origin = new URL(served.url).origin;
    const review = aReview(served.db);
    for (const expected of [200, 200, 429]) {
      const response = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
      expect(response.status).toBe(expected);
    }
  });

  it('end a stream that delivered nothing for SUBSCRIPTION_IDLE_MS', async () => {
    served = await serveApp({ subscriptionIdleMs: 1000, maxSubscriptionsPerAddress: 1 });
    const origin = new URL(served.url).origin;
    const review = aReview(served.db);
    const response = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
    const events = [];
    for await (const event of serverSentEvents(response)) events.push(event);
    // The stream ended by itself, having delivered nothing, and its place is free again.
    expect(events).toEqual([]);
    const next = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
    expect(next.status).toBe(200);
  });

  it('cost a selection like a query, at a bound fan-out can afford', async () => {
    served = await serveApp();
    const origin = new URL(served.url).origin;
    const review = aReview(served.db);
    // The selection: every subscriber re-read 8,000 bodies per comment written.
    const heavy = `subscription($r: ID!) { commentAdded(reviewId: $r) { review { comments { nodes {
      author { reviews { nodes { body } } } } } } } }`;
    const refused = await subscribe(origin, heavy, { r: review.globalId }, streams.signal);
    expect(refused.status).toBe(400);
    const text = await refused.text();
    expect(text).toContain('QUERY_TOO_COMPLEX');
    expect(text).toContain(`Cost limit of ${subscriptionCost(testConfig.maxCost)} exceeded`);
    const token = await tokenFor('writer');
    const live = await subscribe(origin, COMMENT_ADDED, { r: review.globalId }, streams.signal);
    expect(live.status).toBe(200);
    const events = serverSentEvents(live);
    const write = await post(
      served.url,
      {
        query: 'mutation($r: ID!) { addComment(input: { reviewId: $r, body: "hi" }) { comment { id } } }',
        variables: { r: review.globalId },
      },
      { token },
    );
    expect(write.errors).toBeUndefined();
    const first = await events.next();
    expect(first.value?.data.data.commentAdded.body).toBe('hi');
  });
});
