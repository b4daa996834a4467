import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliceToken, commentOver, recordingFetch, reviewOver, type Served, serve } from './served.ts';

/** The list at once, each review's comments later, streamed one edge at a time after the first. */
const DEFERRED = `query Deferred {
  reviews(first: 10, orderBy: OLDEST) {
    nodes {
      id
      title
      ... @defer(label: "conversation") {
        comments(first: 10) { edges @stream(initialCount: 1) { node { id body } } }
      }
    }
  }
}`;

describe('@defer and @stream, with clients that speak incremental delivery, over a real socket', () => {
  let served: Served;
  let endpoint: string;
  beforeAll(async () => {
    served = await serve();
    endpoint = `${served.origin}/graphql`;
    const token = await aliceToken();
    for (const title of ['First', 'Second']) {
      const reviewId = await reviewOver(served.origin, token, {
        subject: `kettle-${title}`,
        rating: 4,
        title,
        body: 'Fine.',
      });
      for (const body of ['one', 'two', 'three']) await commentOver(served.origin, token, reviewId, body);
    }
  });
  afterAll(() => served.close());

  const whole = {
    reviews: {
      nodes: ['First', 'Second'].map((title) => ({
        title,
        comments: { edges: ['one', 'two', 'three'].map((body) => ({ node: { body } })) },
      })),
    },
  };

  it('@urql/core: multipart/mixed, every part merged into the answer', async () => {
    const recorded = recordingFetch();
    // urql GETs its queries: with the preflight header every GET needs (docs/clients.md).
    const client = new Client({
      url: endpoint,
      exchanges: [fetchExchange],
      fetch: recorded.fetch,
      fetchOptions: { headers: { 'apollo-require-preflight': 'true' } },
    });
    const results: unknown[] = [];
    await new Promise<void>((done) => {
      // Left to end by itself: the last part says it is the last.
      client.query(urqlGql(DEFERRED), {}).subscribe((result) => {
        results.push(result.error ?? result.data);
        if (!result.hasNext) done();
      });
    });
    expect(recorded.answered[0]).toMatch(/^multipart\/mixed/);
    // In parts: the first answer has no comments yet, the last has them all.
    expect(results.length).toBeGreaterThan(1);
    expect(results[0]).toMatchObject({ reviews: { nodes: [{ title: 'First' }, { title: 'Second' }] } });
    expect(JSON.stringify(results[0])).not.toContain('"comments"');
    expect(results.at(-1)).toMatchObject(whole);
  });

  it('@apollo/client: HttpLink with the Defer20220824Handler, as its @defer guide sets it up', async () => {
    const recorded = recordingFetch();
    const client = new ApolloClient({
      link: new HttpLink({ uri: endpoint, fetch: recorded.fetch }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
    });
    const answer = await client.query({ query: gql(DEFERRED), fetchPolicy: 'network-only' });
    expect(answer.error).toBeUndefined();
    expect(answer.data).toMatchObject(whole);
    expect(recorded.answered[0]).toMatch(/^multipart\/mixed/);
  });

  it('over SSE too, the parts as `next` events', async () => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: DEFERRED }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await response.text()).split('\n\n').filter((event) => event.startsWith('event: next'));
    const parts = events.map((event) => JSON.parse(event.slice(event.indexOf('data: ') + 6)));
    expect(parts[0]).toMatchObject({ hasNext: true, data: { reviews: { nodes: [{ title: 'First' }, {}] } } });
    expect(parts.at(-1)).toMatchObject({ hasNext: false });
    expect(parts.some((part) => part.incremental?.some((item: { items?: unknown[] }) => item.items))).toBe(true);
  });

  it('weighs the deferred parts into the cost, and counts every part against the answer size', async () => {
    const heavy = `{ reviews(first: 100) { nodes { id ... @defer { comments(first: 100) { nodes {
      review { comments(first: 100) { nodes { body } } } } } } } } }`;
    const refused = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed' },
      body: JSON.stringify({ query: heavy }),
    });
    const refusal = await refused.text();
    expect(refusal).toMatch(/Cost limit of 20000 exceeded/);
    expect(refusal).toContain('"code":"QUERY_TOO_COMPLEX"');

    const small = await serve({ config: { maxResponseBytes: 300 } });
    try {
      const token = await aliceToken();
      const reviewId = await reviewOver(small.origin, token, {
        subject: 'grinder',
        rating: 3,
        title: 'Loud',
        body: 'x',
      });
      for (let n = 0; n < 5; n++) await commentOver(small.origin, token, reviewId, `${'long comment '.repeat(4)}${n}`);
      const response = await fetch(`${small.origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: DEFERRED }),
      });
      const text = await response.text();
      // The first part fits; the comments pass the limit, and the answer ends there.
      expect(text).toContain('"title":"Loud"');
      expect(text).toMatch(/The answer would be larger than 300 bytes/);
      expect(text).not.toContain('long comment long comment long comment long comment 4');
    } finally {
      await small.close();
    }
  });
});
