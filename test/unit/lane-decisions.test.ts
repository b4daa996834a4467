import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/http/persisted-operations.ts';
import { tokenFor } from '../support/app.ts';
import { type Decision, type LaneRequestInit, laneHarness } from '../support/lanes.ts';

const READ = '{ ratingSummary(subject: "kettle") { count average } }';
const PAGE = 'query Page($n: Int) { reviews(first: $n) { nodes { id title } } }';
const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }`;
const created = (subject: string) => ({
  query: CREATE,
  variables: { input: { subject, rating: 4, title: 'Warm', body: 'Fast.' } },
});

/** The lanes' documented decisions (docs/request-pipeline.md), one request at a time. */
describe('the lanes', () => {
  let token: string;
  const lanes = laneHarness({ maxBodyBytes: 4096, maxCost: 100 });
  const decide = (init: LaneRequestInit) => lanes.decide(init);
  const by = async (init: LaneRequestInit) => (await decide(init)).by;

  beforeAll(async () => {
    token = await tokenFor('alice', { name: 'Alice' });
    // The lanes know a document only once it ran compiled through Yoga.
    for (const body of [{ query: READ }, { query: PAGE, variables: { n: 2 } }, created('kettle')]) {
      expect((await lanes.throughYoga(body, body.query === CREATE ? token : undefined)).status).toBe(200);
    }
  });

  describe('answer themselves', () => {
    it('a known query, with the headers Yoga would send', async () => {
      const answer = (await decide({ body: { query: READ }, headers: { 'x-request-id': 'r-1' } })) as Decision & {
        by: 'lane';
      };
      expect(answer.by).toBe('lane');
      // Yoga's very bytes, which test/reads/differential.test.ts holds over real HTTP.
      expect({ status: answer.status, body: answer.body }).toEqual(await lanes.throughYoga({ query: READ }));
      expect(answer.headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'private, no-store',
        'x-request-id': 'r-1',
        vary: 'Origin',
      });
    });

    it('as graphql-response+json when that is the Accept, and with a token', async () => {
      const answer = await decide({
        body: { query: READ },
        headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
      });
      expect(answer.by === 'lane' && answer.headers['content-type']).toBe(
        'application/graphql-response+json; charset=utf-8',
      );
    });

    it('a known mutation from a signed-in viewer', async () => {
      const answer = await decide({ body: created('toaster'), headers: { authorization: `Bearer ${token}` } });
      expect(answer.by).toBe('lane');
      expect(answer.by === 'lane' && JSON.parse(answer.body).data.createReview.review.title).toBe('Warm');
    });
  });

  describe('hand to Yoga, by the headers alone', () => {
    it.each<[string, LaneRequestInit]>([
      [
        'a GET (shared caching, ETag and 304 are Yoga’s)',
        { method: 'GET', url: `/graphql?query=${encodeURIComponent(READ)}` },
      ],
      ['a preflight', { method: 'OPTIONS' }],
      ['another path', { url: '/api/reviews' }],
      ['the endpoint with a query string', { url: '/graphql?x=1' }],
      ['a CORS-simple content type without a CSRF header', { headers: { 'content-type': 'text/plain' } }],
      ['a form', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['multipart', { headers: { 'content-type': 'multipart/form-data; boundary=x' } }],
      ['a streaming Accept', { headers: { accept: 'text/event-stream' } }],
      ['an Accept list', { headers: { accept: 'application/json, multipart/mixed' } }],
      ['a body past MAX_BODY_BYTES (413 is Yoga’s)', { headers: { 'content-length': '5000' } }],
      ['a Content-Length that is not one', { headers: { 'content-length': '12, 12' } }],
    ])('%s', async (_, init) => {
      expect(await by({ body: { query: READ }, ...init })).toBe('yoga');
    });

    it('a body without Content-Length (chunked)', async () => {
      const headers = { 'content-length': undefined } as unknown as Record<string, string>;
      expect(await by({ body: { query: READ }, headers })).toBe('yoga');
    });
  });

  describe('hand to Yoga once the body is read, with the body', () => {
    it.each<[string, unknown]>([
      ['a document never run compiled', { query: '{ ratingSummary(subject: "other") { count } }' }],
      ['a batch', [{ query: READ }]],
      ['a member it does not know', { query: READ, foo: 1 }],
      ['an extension', { query: READ, extensions: { tracing: true } }],
      [
        'an APQ registration',
        { query: READ, extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(READ) } } },
      ],
      ['variables that are not an object', { query: PAGE, variables: [1] }],
      ['a document past MAX_COST (the refusal is Yoga’s)', { query: PAGE, variables: { n: 100 } }],
      ['a mutation without a token', created('radio')],
      ['not JSON', '{"query":'],
    ])('%s', async (_, body) => {
      const decision = await decide({ body });
      expect(decision.by).toBe('yoga');
      expect(decision.by === 'yoga' && decision.body).toBe(typeof body === 'string' ? body : JSON.stringify(body));
    });

    it('a mutation that fails before it commits (Yoga runs it again and answers the error)', async () => {
      expect(await by({ body: created('kettle'), headers: { authorization: `Bearer ${token}` } })).toBe('yoga');
    });

    it('a persisted document by its id once registered (through Yoga), which the lane then answers', async () => {
      const persistedQuery = { version: 1, sha256Hash: sha256Hex(READ) };
      expect((await lanes.throughYoga({ query: READ, extensions: { persistedQuery } })).status).toBe(200);
      expect(await by({ body: { extensions: { persistedQuery } } })).toBe('lane');
    });
  });

  it('are off with RESPONSE_CACHE=on or FAST_READS=off', () => {
    expect(() => laneHarness({ responseCache: true })).toThrow(/off/);
    expect(() => laneHarness({ fastReads: false })).toThrow(/off/);
  });
});
