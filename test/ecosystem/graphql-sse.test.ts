import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_TOKEN_HEADER } from '../../src/http/graphql-sse.ts';
import { GRAPHQL_SSE_PATH } from '../../src/http/routes.ts';
import { aliceToken, recordingFetch, reviewOver, type Served, serve } from './served.ts';

const ADD = `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id body } } }`;

/** One operation through the client, every result it yields until it completes. */
function run(client: Client<boolean>, query: string, variables: Record<string, unknown> = {}, until = 1) {
  const results: unknown[] = [];
  let dispose = () => {};
  const done = new Promise<unknown[]>((resolve, reject) => {
    dispose = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          results.push(result);
          if (results.length >= until) {
            dispose();
            resolve(results);
          }
        },
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
  return { done, dispose: () => dispose() };
}

describe('graphql-sse, its client as its documentation sets it up, over a real socket', () => {
  let served: Served;
  let url: string;
  let token: string;
  let reviewId: string;
  beforeAll(async () => {
    served = await serve();
    url = `${served.origin}${GRAPHQL_SSE_PATH}`;
    token = await aliceToken();
    reviewId = await reviewOver(served.origin, token, { subject: 'kettle', rating: 4, title: 'Quick', body: 'Boils.' });
  });
  afterAll(() => served.close());

  it('single connection mode: a reservation, one stream for every operation, and DELETE to stop one', async () => {
    const recorded = recordingFetch();
    const client = createClient({
      url,
      singleConnection: true,
      fetchFn: recorded.fetch,
      headers: { authorization: `Bearer ${token}` },
    });
    try {
      const page = await run(client, '{ reviews { totalCount nodes { title } } }').done;
      expect(page).toEqual([{ data: { reviews: { totalCount: 1, nodes: [{ title: 'Quick' }] } } }]);
      const live = run(client, 'subscription($id: ID!) { commentAdded(reviewId: $id) { body author { name } } }', {
        id: reviewId,
      });
      // A live stream's listener attaches a moment after it opens: write until the first arrives.
      let received: unknown[] | undefined;
      void live.done.then((results) => {
        received = results;
      });
      for (let attempt = 0; attempt < 50 && !received; attempt++) {
        const added = await run(client, ADD, { input: { reviewId, body: `live ${attempt}` } }).done;
        expect(added[0]).toMatchObject({ data: { addComment: { comment: { body: `live ${attempt}` } } } });
        await sleep(50);
      }
      expect(received?.[0]).toMatchObject({ data: { commentAdded: { author: { name: 'Alice' } } } });
    } finally {
      client.dispose();
    }
    // The reservation, the one stream, the operations, and a DELETE for the subscription it ended.
    const methods = recorded.sent.map(({ method }) => method);
    expect(methods[0]).toBe('PUT');
    expect(methods.filter((method) => method === 'GET')).toHaveLength(1);
    expect(methods).toContain('DELETE');
    expect(methods.filter((method) => method === 'POST').length).toBeGreaterThanOrEqual(3);
  });

  it('distinct connections mode too', async () => {
    const client = createClient({ url, headers: { authorization: `Bearer ${token}` } });
    try {
      const answer = await run(client, '{ reviews { totalCount } }').done;
      expect(answer).toEqual([{ data: { reviews: { totalCount: 1 } } }]);
    } finally {
      client.dispose();
    }
  });

  it('refuses what a cross-site page could send without a preflight, with the CSRF code', async () => {
    const body = JSON.stringify({ query: '{ reviews { totalCount } }' });
    const refused = [
      await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body }),
      await fetch(`${url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'text/event-stream' } }),
    ];
    for (const response of refused) {
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('"code":"CSRF_HEADER_REQUIRED"');
    }
    // A reservation (PUT) is always preflighted by a browser; the token then admits its stream.
    const reservation = await fetch(url, { method: 'PUT' });
    expect(reservation.status).toBe(201);
    const reserved = await reservation.text();
    const stream = await fetch(url, {
      headers: { [STREAM_TOKEN_HEADER]: reserved, accept: 'text/event-stream' },
      signal: AbortSignal.timeout(2_000),
    });
    expect(stream.status).toBe(200);
    await stream.body?.cancel();
    // MAX_BODY_BYTES as on /graphql.
    const huge = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(2_000_000)}` }),
    });
    expect(huge.status).toBe(413);
  });
});
