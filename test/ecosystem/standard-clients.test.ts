import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { GraphQLClient } from 'graphql-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliceToken, graphql, recordingFetch, type Served, serve } from './served.ts';

const PAGE = `query Page($first: Int) { reviews(first: $first) { totalCount nodes { title author { name } } } }`;
const CREATE = `mutation Create($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }`;

describe('standard GraphQL clients, each as its documentation sets it up, over a real socket', () => {
  let served: Served;
  let endpoint: string;
  let token: string;
  beforeAll(async () => {
    served = await serve();
    endpoint = `${served.origin}/graphql`;
    token = await aliceToken();
    await graphql(
      endpoint.replace('/graphql', ''),
      CREATE,
      {
        input: { subject: 'kettle', rating: 4, title: 'Quick boil', body: 'Fine.' },
      },
      token,
    );
  });
  afterAll(() => served.close());

  it('@apollo/client: queries by GET (useGETForQueries), mutations by POST with a token', async () => {
    const recorded = recordingFetch();
    const client = new ApolloClient({
      link: new HttpLink({
        uri: endpoint,
        useGETForQueries: true,
        fetch: recorded.fetch,
        headers: { authorization: `Bearer ${token}` },
      }),
      cache: new InMemoryCache(),
    });
    const created = await client.mutate({
      mutation: gql(CREATE),
      variables: { input: { subject: 'toaster', rating: 5, title: 'Even', body: 'Golden.' } },
    });
    expect(created.data).toMatchObject({ createReview: { review: { title: 'Even' } } });
    const page = await client.query({ query: gql(PAGE), variables: { first: 10 }, fetchPolicy: 'network-only' });
    expect(page.data).toMatchObject({ reviews: { totalCount: 2 } });
    expect(recorded.sent.map((request) => request.method)).toEqual(['POST', 'GET']);
  });

  it('@urql/core: preferGetMethod with the apollo-require-preflight header (no content-type on its GETs)', async () => {
    const recorded = recordingFetch();
    const client = new Client({
      url: endpoint,
      exchanges: [fetchExchange],
      preferGetMethod: true,
      fetch: recorded.fetch,
      fetchOptions: { headers: { 'apollo-require-preflight': 'true' } },
    });
    const page = await client.query(urqlGql(PAGE), { first: 10 }).toPromise();
    expect(page.error).toBeUndefined();
    expect(page.data).toMatchObject({ reviews: { totalCount: 2 } });
    expect(recorded.sent).toHaveLength(1);
    expect(recorded.sent[0]?.method).toBe('GET');
    // What the old CSRF rule refused: a GET with no content-type and only Apollo's header.
    expect(recorded.sent[0]?.headers.get('content-type')).toBeNull();
  });

  it('graphql-request: POST by default; GET with a preflight header, as any GET needs', async () => {
    type Page = { reviews: { totalCount: number } };
    const post = await new GraphQLClient(endpoint).request<Page>(PAGE, { first: 1 });
    expect(post.reviews.totalCount).toBe(2);
    const recorded = recordingFetch();
    const headers = { 'apollo-require-preflight': 'true' };
    const get = await new GraphQLClient(endpoint, { method: 'GET', headers, fetch: recorded.fetch }).request<Page>(
      PAGE,
      { first: 1 },
    );
    expect(get.reviews.totalCount).toBe(2);
    expect(recorded.sent.map((request) => request.method)).toEqual(['GET']);
    // Its GETs carry no content type: without the header they look like a cross-site link.
    await expect(new GraphQLClient(endpoint, { method: 'GET' }).request(PAGE)).rejects.toThrow(/CSRF/);
  });
});

describe('CSRF prevention against what a browser sends cross-site without a preflight', () => {
  let served: Served;
  let endpoint: string;
  beforeAll(async () => {
    served = await serve();
    endpoint = `${served.origin}/graphql`;
  });
  afterAll(() => served.close());

  const get = (query: string, headers: Record<string, string> = {}) =>
    fetch(`${endpoint}?query=${encodeURIComponent(query)}`, { headers });
  const reviewCount = async () =>
    (await graphql<{ reviews: { totalCount: number } }>(served.origin, '{ reviews { totalCount } }')).reviews
      .totalCount;

  it('refuses a GET with no header (an <img> or a link), and simple-content-type POSTs (a form)', async () => {
    const refused = await get('{ __typename }');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      errors: [
        expect.objectContaining({
          message: 'Required CSRF header(s) not present',
          extensions: { code: 'CSRF_HEADER_REQUIRED' },
        }),
      ],
    });
    const token = await aliceToken();
    const mutation = `mutation { createReview(input: {subject: "csrf", rating: 1, title: "t", body: "b"}) { review { id } } }`;
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': contentType, authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: mutation }),
      });
      expect(response.status, contentType).toBe(403);
    }
    expect(await reviewCount()).toBe(0);
  });

  it('accepts each header Apollo Server accepts, and a non-simple content type, on a GET', async () => {
    for (const header of ['apollo-require-preflight', 'x-apollo-operation-name', 'x-graphql-yoga-csrf']) {
      const response = await get('{ __typename }', { [header]: 'true' });
      expect(response.status, header).toBe(200);
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    }
    expect((await get('{ __typename }', { 'content-type': 'application/json' })).status).toBe(200);
  });

  it('refuses a mutation over GET, with the preflight header and a token too, and writes nothing', async () => {
    const token = await aliceToken();
    const response = await get(
      `mutation { createReview(input: {subject: "get", rating: 1, title: "t", body: "b"}) { review { id } } }`,
      { 'apollo-require-preflight': 'true', authorization: `Bearer ${token}` },
    );
    expect(response.status).toBe(405);
    expect(await reviewCount()).toBe(0);
  });
});
