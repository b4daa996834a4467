import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningNginx, startNginx } from '../../drill/nginx.ts';
import { freePort } from '../../drill/ports.ts';
import { lacks } from '../support/system-programs.ts';
import { aliceToken, graphql, type Served, serve } from './served.ts';
import { serverSentEvents, subscribe } from './sse.ts';

/** Short, so that the test waits out an expiry; the default is 5 s. */
const MAX_AGE_S = 2;
const PREFLIGHT = { 'apollo-require-preflight': 'true' };

const describeWithNginx = describe.skipIf(lacks('nginx', 'the nginx shared-cache tests'));

describeWithNginx("deploy/'s nginx in front of a real server: the shared cache, and live updates past it", () => {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-nginx-cache-'));
  let served: Served;
  let nginx: RunningNginx;
  let token: string;

  beforeAll(async () => {
    served = await serve({ config: { httpCacheMaxAge: MAX_AGE_S, httpCacheStaleWhileRevalidate: 5 } });
    const node = new URL(served.origin).host;
    // One node: this test is about the cache, not failover.
    nginx = await startNginx(dir, {
      nodes: [node],
      listen: `127.0.0.1:${await freePort()}`,
    });
    token = await aliceToken();
  });
  afterAll(async () => {
    await nginx?.stop();
    await served?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GET requests the node itself answered for an operation, read from its /metrics. */
  async function nodeAnswered(operation: string): Promise<number> {
    const text = await (await fetch(`${served.origin}/metrics`)).text();
    const series = text
      .split('\n')
      .filter((line) => line.startsWith('reviews_api_http_request_duration_seconds_count{'))
      .filter((line) => line.includes('method="GET"') && line.includes(`operation="${operation}"`));
    return series.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  }

  const page = (operation: string) => `query ${operation} { reviews(first: 10) { totalCount nodes { title } } }`;
  const viaNginx = (query: string, headers: Record<string, string> = {}) =>
    fetch(`${nginx.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { ...PREFLIGHT, ...headers } });

  it('serves a repeated public GET from the cache without reaching the node', async () => {
    const first = await viaNginx(page('Repeated'));
    expect([first.status, first.headers.get('x-cache-status')]).toEqual([200, 'MISS']);
    const body = await first.text();
    for (let i = 0; i < 20; i++) {
      const again = await viaNginx(page('Repeated'));
      expect(again.headers.get('x-cache-status')).toBe('HIT');
      expect(await again.text()).toBe(body);
    }
    expect(await nodeAnswered('Repeated')).toBe(1);
  });

  it('never answers a request with a token from the shared cache, nor stores its answer', async () => {
    await viaNginx(page('Tokened'));
    expect(await nodeAnswered('Tokened')).toBe(1);
    for (let i = 0; i < 5; i++) {
      const withToken = await viaNginx(page('Tokened'), { authorization: `Bearer ${token}` });
      expect(withToken.headers.get('x-cache-status')).toBe('BYPASS');
      expect(withToken.headers.get('cache-control')).toBe('private, no-store');
    }
    expect(await nodeAnswered('Tokened')).toBe(6);
    // The anonymous answer is still the one cached, not a token holder's.
    expect((await viaNginx(page('Tokened'))).headers.get('x-cache-status')).toBe('HIT');
    expect(await nodeAnswered('Tokened')).toBe(6);
  });

  it("never answers a read naming a write's position from the cache (read-your-writes)", async () => {
    await viaNginx(page('Positioned'));
    expect((await viaNginx(page('Positioned'))).headers.get('x-cache-status')).toBe('HIT');
    const position = '0123456789abcdef.3.4096';
    const naming: Record<string, string>[] = [
      { 'x-reviews-api-position': position },
      { cookie: `reviews_api_position=${position}` },
    ];
    for (const headers of naming) {
      expect((await viaNginx(page('Positioned'), headers)).headers.get('x-cache-status')).toBe('BYPASS');
    }
    expect(await nodeAnswered('Positioned')).toBe(3);
  });

  it('sends one request upstream for a stampede on a new key (proxy_cache_lock)', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => viaNginx(page('Stampede'))));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    expect(await nodeAnswered('Stampede')).toBe(1);
  });

  it('shows a write to every reader once max-age has passed', async () => {
    const before = (await (await viaNginx(page('AfterWrite'))).json()).data.reviews.totalCount as number;
    await graphql(
      nginx.url,
      'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'nginx', rating: 5, title: 'Cached, then fresh', body: 'b' } },
      token,
    );
    // Within max-age the cache may still answer from before the write: that is the bound.
    const cached = await viaNginx(page('AfterWrite'));
    expect(cached.headers.get('x-cache-status')).toBe('HIT');
    expect((await cached.json()).data.reviews.totalCount).toBe(before);
    // nginx counts whole seconds: an answer stored at 10.9 s with max-age=2 expires after 13 s.
    await sleep((MAX_AGE_S + 1.5) * 1000);
    for (let i = 0; i < 5; i++) {
      const after = await (await viaNginx(page('AfterWrite'))).json();
      expect(after.data.reviews.totalCount).toBe(before + 1);
      expect(after.data.reviews.nodes[0].title).toBe('Cached, then fresh');
    }
  });

  it("answers 304 from the cache to a client holding the cached answer's ETag", async () => {
    const first = await viaNginx(page('Conditional'));
    const etag = first.headers.get('etag') as string;
    expect(etag).toBeTruthy();
    const conditional = await viaNginx(page('Conditional'), { 'if-none-match': etag });
    expect([conditional.status, conditional.headers.get('x-cache-status')]).toEqual([304, 'HIT']);
    expect(await nodeAnswered('Conditional')).toBe(1);
  });

  it('keeps a live-update stream open past its 3 s read timeout and passes each event on as it comes', async () => {
    const { createReview } = await graphql<{ createReview: { review: { id: string } } }>(
      served.origin,
      'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'live', rating: 4, title: 'Watched', body: 'b' } },
      token,
    );
    const reviewId = createReview.review.id;
    const abort = new AbortController();
    // Yoga pings a stream every 300 ms under NODE_ENV=test: this one is opened as production's,
    // with a keep-alive comment every 12 s, so it is silent past nginx's 3 s read timeout.
    process.env.NODE_ENV = 'production';
    const stream = await subscribe(
      nginx.url,
      'subscription($reviewId: ID!) { commentAdded(reviewId: $reviewId) { body } }',
      { reviewId },
      abort.signal,
    ).finally(() => {
      process.env.NODE_ENV = 'test';
    });
    try {
      expect(stream.status).toBe(200);
      await sleep(4500);
      const events = serverSentEvents(stream);
      const next = events.next();
      await graphql(
        served.origin,
        'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }',
        { input: { reviewId, body: 'after the silence' } },
        token,
      );
      // Bounded: a buffered event would wait for more bytes, a cut stream ends without one.
      const event = await Promise.race([next, sleep(5000).then(() => 'still waiting' as const)]);
      expect(event).not.toBe('still waiting');
      expect(event).toMatchObject({
        done: false,
        value: { data: { data: { commentAdded: { body: 'after the silence' } } } },
      });
    } finally {
      abort.abort();
    }
  }, 20_000);
});
