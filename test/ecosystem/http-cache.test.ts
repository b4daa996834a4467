import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliceToken, graphql, type Served, serve } from './served.ts';

const PAGE = '{ reviews(first: 5) { totalCount nodes { id title version } } }';
const PREFLIGHT = { 'apollo-require-preflight': 'true' };

describe.each([
  { responseCache: false, name: 'RESPONSE_CACHE=off' },
  { responseCache: true, name: 'RESPONSE_CACHE=on' },
])('HTTP caching of public reads with $name', ({ responseCache }) => {
  let served: Served;
  let token: string;
  let reviewId: string;
  const get = (query: string, headers: Record<string, string> = {}) =>
    fetch(`${served.origin}/graphql?query=${encodeURIComponent(query)}`, { headers: { ...PREFLIGHT, ...headers } });

  beforeAll(async () => {
    served = await serve({ config: { responseCache } });
    token = await aliceToken();
    const created = await graphql<{ createReview: { review: { id: string } } }>(
      served.origin,
      'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      { input: { subject: 'scale', rating: 3, title: 'Accurate', body: 'To the gram.' } },
      token,
    );
    reviewId = created.createReview.review.id;
  });
  afterAll(() => served.close());

  it('marks an anonymous GET query public, with an ETag of its body, and answers 304 to that ETag', async () => {
    const first = await get(PAGE);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('public, max-age=5, stale-while-revalidate=10');
    expect(first.headers.get('vary')).toBe('Accept, Authorization, Origin');
    expect(first.headers.get('last-modified')).toBeNull();
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const body = await first.text();
    // The same answer again (from the response cache when it is on) has the same ETag.
    const again = await get(PAGE);
    expect([again.headers.get('etag'), await again.text()]).toEqual([etag, body]);
    const revalidated = await get(PAGE, { 'if-none-match': `W/"other", ${etag}` });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe('');
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(revalidated.headers.get('cache-control')).toMatch(/^public/);
    expect((await get(PAGE, { 'if-none-match': '"other"' })).status).toBe(200);
  });

  it('keeps anything tied to a token, a viewer, a POST, a mutation or an error out of shared caches', async () => {
    const private_ = 'private, no-store';
    const withToken = await get(PAGE, { authorization: `Bearer ${token}` });
    expect([withToken.status, withToken.headers.get('cache-control'), withToken.headers.get('etag')]).toEqual([
      200,
      private_,
      null,
    ]);
    const viewer = await get('{ viewer { id } reviews { totalCount } }');
    expect(viewer.headers.get('cache-control')).toBe(private_);
    const aliased = await get('query { me: viewer { id } }');
    expect(aliased.headers.get('cache-control')).toBe(private_);
    const post = await fetch(`${served.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PAGE }),
    });
    expect([post.headers.get('cache-control'), post.headers.get('etag')]).toEqual([private_, null]);
    const mutation = await fetch(`${served.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { deleteReview(input: {id: "nonsense"}) { deletedId } }' }),
    });
    expect(mutation.headers.get('cache-control')).toBe(private_);
    const failed = await get('{ review(id: "nonsense") { id } }');
    expect(failed.headers.get('cache-control')).toBe(private_);
    const invalid = await get('{ noSuchField }');
    expect(invalid.headers.get('cache-control')).toBe(private_);
  });

  it('gives no stale ETag a 304 after a write: the changed answer has a new ETag', async () => {
    const query = `{ review(id: "${reviewId}") { title version } }`;
    const before = await get(query);
    const oldTag = before.headers.get('etag') as string;
    expect((await get(query, { 'if-none-match': oldTag })).status).toBe(304);
    await graphql(
      served.origin,
      'mutation($input: UpdateReviewInput!) { updateReview(input: $input) { review { version } } }',
      { input: { id: reviewId, title: `Accurate, still (${responseCache})` } },
      token,
    );
    const after = await get(query, { 'if-none-match': oldTag });
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ data: { review: { title: `Accurate, still (${responseCache})` } } });
    const newTag = after.headers.get('etag') as string;
    expect(newTag).not.toBe(oldTag);
    expect((await get(query, { 'if-none-match': newTag })).status).toBe(304);
  });
});

describe('HTTP caching settings', () => {
  it('takes max-age and stale-while-revalidate from the configuration', async () => {
    const served = await serve({ config: { httpCacheMaxAge: 30, httpCacheStaleWhileRevalidate: 0 } });
    try {
      const response = await fetch(`${served.origin}/graphql?query={__typename}`, { headers: PREFLIGHT });
      expect(response.headers.get('cache-control')).toBe('public, max-age=30, stale-while-revalidate=0');
    } finally {
      await served.close();
    }
  });

  it('HTTP_CACHE=off: nothing is shared, and no ETag (the response cache keeps its own to itself)', async () => {
    const served = await serve({ config: { httpCache: false, responseCache: true } });
    try {
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${served.origin}/graphql?query={__typename}`, { headers: PREFLIGHT });
        expect([response.headers.get('cache-control'), response.headers.get('etag')]).toEqual([
          'private, no-store',
          null,
        ]);
      }
    } finally {
      await served.close();
    }
  });
});
