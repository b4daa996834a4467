import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { getOperationAST, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LatestReviews,
  PersistedLatestReviews,
  ReviewsClient,
  reviewAndList,
} from '../../examples/client/src/client.ts';
import { DEFAULT_MANIFEST, readManifest, sha256Hex } from '../../src/http/persisted-operations.ts';
import { aliceToken, graphql, type Served, serve } from './served.ts';

const PAGE = 'query Page { reviews(first: 5) { totalCount nodes { title } } }';
const PREFLIGHT = { 'apollo-require-preflight': 'true' };

/** fetch, recording what each request a client library sends carried. */
function recordingFetch() {
  const sent: { method: string; query: string | null; hash: string | null }[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const params =
      request.method === 'GET'
        ? { query: url.searchParams.get('query'), extensions: JSON.parse(url.searchParams.get('extensions') ?? '{}') }
        : await request.clone().json();
    sent.push({
      method: request.method,
      query: params.query ?? null,
      hash: params.extensions?.persistedQuery?.sha256Hash ?? null,
    });
    return fetch(request);
  };
  return { sent, fetch: fetcher };
}

const byHash = (hash: string, method: 'GET' | 'POST', origin: string) => {
  const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } });
  return method === 'GET'
    ? fetch(`${origin}/graphql?extensions=${encodeURIComponent(extensions)}`, { headers: PREFLIGHT })
    : fetch(`${origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ extensions: JSON.parse(extensions) }),
      });
};

describe('Automatic Persisted Queries (the default)', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve();
  });
  afterAll(() => served.close());

  it("Apollo Client's PersistedQueryLink over GET: a miss, the document once, then the hash alone", async () => {
    const recorded = recordingFetch();
    const client = () =>
      new ApolloClient({
        link: new PersistedQueryLink({ sha256: sha256Hex, useGETForHashedQueries: true }).concat(
          // useGETForQueries: the retry that sends the document is a GET too.
          new HttpLink({
            uri: `${served.origin}/graphql`,
            fetch: recorded.fetch,
            headers: PREFLIGHT,
            useGETForQueries: true,
          }),
        ),
        cache: new InMemoryCache(),
      });
    const first = await client().query({ query: gql(PAGE) });
    expect(first.data).toMatchObject({ reviews: { totalCount: 0 } });
    // A second client (a new page load) knows the hash only: the server remembers the document.
    const second = await client().query({ query: gql(PAGE) });
    expect(second.data).toEqual(first.data);
    expect(recorded.sent.map(({ method, query, hash }) => [method, query !== null, hash !== null])).toEqual([
      ['GET', false, true],
      ['GET', true, true],
      ['GET', false, true],
    ]);
  });

  it('over POST too: a write registers its document as it runs, with its token; a read then goes by hash', async () => {
    const token = await aliceToken();
    const register = (query: string) =>
      fetch(`${served.origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(query) } } }),
      });
    const mutation =
      'mutation { createReview(input: {subject: "apq", rating: 4, title: "By hash", body: "b"}) { review { title } } }';
    expect(await (await register(mutation)).json()).toEqual({
      data: { createReview: { review: { title: 'By hash' } } },
    });
    expect((await (await register(PAGE)).json()).data).toMatchObject({ reviews: { totalCount: 1 } });
    const byHashOnly = await (await byHash(sha256Hex(PAGE), 'POST', served.origin)).json();
    expect(byHashOnly).toEqual({ data: { reviews: { totalCount: 1, nodes: [{ title: 'By hash' }] } } });
  });

  it('answers PERSISTED_QUERY_NOT_FOUND to an unknown hash and refuses a hash that is not the document', async () => {
    const unknown = await byHash('0'.repeat(64), 'GET', served.origin);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const lying = await fetch(`${served.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PAGE, extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }),
    });
    expect((await lying.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_MISMATCH');
  });
});

describe('TRUSTED_DOCUMENTS=on: only the manifest generated from examples/client runs', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ config: { trustedDocuments: true } });
  });
  afterAll(() => served.close());

  it('runs the typed client by document id: a write and a read', async () => {
    const client = new ReviewsClient(`${served.origin}/graphql`, await aliceToken());
    const input = { subject: 'grinder', rating: 4, title: 'Even grind', body: 'Loud.' };
    const result = await reviewAndList(client, input, { persisted: true });
    expect(result).toMatchObject({ created: { subject: 'grinder', version: 1 }, total: 1 });
  });

  it('refuses a document sent as text, an unknown id and a request with neither, and writes nothing', async () => {
    const token = await aliceToken();
    const mutation =
      'mutation { createReview(input: {subject: "x", rating: 1, title: "t", body: "b"}) { review { id } } }';
    const asText = await fetch(`${served.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: mutation }),
    });
    expect(asText.status).toBe(400);
    expect((await asText.json()).errors[0].extensions.code).toBe('CANNOT_SEND_PQ_ID_AND_BODY');
    const unknown = await byHash(sha256Hex(mutation), 'POST', served.origin);
    expect((await unknown.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    const neither = await fetch(`${served.origin}/graphql?variables={}`, { headers: PREFLIGHT });
    expect((await neither.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_ID_REQUIRED');
    const { reviews } = await new ReviewsClient(`${served.origin}/graphql`).request(PersistedLatestReviews, {
      subject: 'x',
      first: 1,
    });
    expect(reviews.totalCount).toBe(0);
  });

  it("urql's persistedExchange with the documents' ids, by GET", async () => {
    const recorded = recordingFetch();
    const client = new Client({
      url: `${served.origin}/graphql`,
      fetch: recorded.fetch,
      fetchOptions: { headers: PREFLIGHT },
      exchanges: [
        persistedExchange({
          enforcePersistedQueries: true,
          preferGetForPersistedQueries: true,
          generateHash: async (_, document) => (document as { documentId?: string }).documentId ?? '',
        }),
        fetchExchange,
      ],
    });
    const page = await client.query(PersistedLatestReviews, { subject: 'grinder', first: 5 }).toPromise();
    expect(page.error).toBeUndefined();
    expect(page.data?.reviews.totalCount).toBe(1);
    expect(recorded.sent).toEqual([{ method: 'GET', query: null, hash: PersistedLatestReviews.documentId }]);
  });

  it("Apollo Client's PersistedQueryLink with ids looked up by operation name in the manifest", async () => {
    const idByOperation = new Map(
      [...readManifest(DEFAULT_MANIFEST)].map(([id, text]) => [getOperationAST(parse(text))?.name?.value, id]),
    );
    const recorded = recordingFetch();
    const client = new ApolloClient({
      link: new PersistedQueryLink({
        generateHash: (document) => idByOperation.get(getOperationAST(document)?.name?.value) ?? '',
        useGETForHashedQueries: true,
      }).concat(new HttpLink({ uri: `${served.origin}/graphql`, fetch: recorded.fetch, headers: PREFLIGHT })),
      cache: new InMemoryCache(),
    });
    const page = await client.query({
      query: LatestReviews,
      variables: { subject: 'grinder' },
      fetchPolicy: 'no-cache',
    });
    expect(page.data?.reviews.totalCount).toBe(1);
    expect(recorded.sent).toEqual([{ method: 'GET', query: null, hash: PersistedLatestReviews.documentId }]);
  });
});

describe('the trusted documents manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-manifest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is what gql.tada generated from examples/client, each id the SHA-256 of its document', () => {
    const manifest = readManifest(DEFAULT_MANIFEST);
    expect(manifest.get(PersistedLatestReviews.documentId)).toMatch(/^query LatestReviews/);
  });

  it('refuses to load with an id that is not its document hash, or a file that is not a manifest', () => {
    const forged = join(dir, 'forged.json');
    writeFileSync(forged, JSON.stringify({ [sha256Hex('{ a }')]: '{ a }', abc: '{ b }' }));
    expect(() => readManifest(forged)).toThrow(/not the SHA-256 of their document: abc$/);
    const list = join(dir, 'list.json');
    writeFileSync(list, '["{ a }"]');
    expect(() => readManifest(list)).toThrow(/expected a JSON object/);
    expect(() => readManifest(join(dir, 'missing.json'))).toThrow(/missing\.json: ENOENT/);
  });
});

// The read below also proves a TRUSTED_DOCUMENTS=off server still runs any document.
it('an ordinary server answers a document sent as text', async () => {
  const served = await serve();
  try {
    expect(await graphql(served.origin, '{ reviews { totalCount } }')).toEqual({ reviews: { totalCount: 0 } });
  } finally {
    await served.close();
  }
});
