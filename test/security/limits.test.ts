import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { MAX_BATCH_OPERATIONS } from '../../src/http/batching.ts';
import { queryLimitPlugins } from '../../src/http/limits.ts';
import { createApp } from '../../src/http/yoga.ts';
import { createTestApp, errorCode, type TestApp, testConfig } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';
import { post, serveApp } from './served.ts';

/** The benchmark's page query (bench/), with its page size as a variable. */
const PAGE_QUERY = `query Page($first: Int) {
  reviews(first: $first) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } }
}`;

/**
 * A query `levels` deep: each field one level, the leaf included, a connection's `nodes` none.
 * One row per page, so the cost stays far below its limit at any depth.
 */
function nestedQuery(levels: number): string {
  // reviews(1), then comments/review repeating, then a leaf.
  const chain = ['reviews(first: 1) { nodes'];
  for (let level = 1; level < levels - 1; level++) chain.push(level % 2 ? 'comments(first: 1) { nodes' : 'review');
  const closing = chain.map((field) => (field.endsWith('nodes') ? ' } }' : ' }')).join('');
  return `{ ${chain.join(' { ')} { id${closing} }`;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape; the schema is type-checked itself.
type Data = Record<string, any>;

let t: TestApp;
beforeEach(() => {
  t = createTestApp();
});

describe('the limits on a document', () => {
  it('let the benchmark page query through at 20, 50 and 100 per page', async () => {
    for (let i = 0; i < 60; i++) {
      const review = aReview(t.db);
      for (let j = 0; j < 6; j++) aComment(t.db, { reviewId: review.id });
    }
    // 100 too: the benchmark may run at the largest page, and its cost (18,754) is under MAX_COST.
    for (const first of [20, 50, 100]) {
      const response = await t.gql(PAGE_QUERY, { first });
      expect(response.errors).toBeUndefined();
      expect(response.data?.reviews.nodes).toHaveLength(Math.min(first, 60));
      expect(response.data?.reviews.nodes[0].comments.nodes).toHaveLength(5);
    }
  });

  it('refuse a 10-level query before it runs, and take one at the depth limit', async () => {
    aReview(t.db);
    t.statements.length = 0;
    const deep = await t.gql(nestedQuery(10));
    expect(errorCode(deep)).toBe('QUERY_TOO_COMPLEX');
    expect(deep.status).toBe(400);
    expect(deep.errors?.[0]?.message).toMatch(/^Query depth limit of 8 \(MAX_DEPTH\) exceeded, found 10/);
    expect(t.statements).toEqual([]);
    const atLimit = await t.gql(nestedQuery(testConfig.maxDepth));
    expect(atLimit.errors).toBeUndefined();
  });

  it("answer Relay's refetch query of a user's reviews, their comments and each one's author", async () => {
    // What relay-compiler writes for a @refetchable fragment on User with two @connection fields:
    // nine levels as every field counts, five without the connections' plumbing.
    const refetch = `query UserReviewsRefetchQuery($count: Int = 10, $cursor: String, $id: ID!) {
      node(id: $id) { __typename ...UserReviews_user id }
    }
    fragment UserReviews_user on User {
      reviews(first: $count, after: $cursor) {
        edges { node { id title comments(first: 5) {
          edges { node { id body author { name id } __typename } cursor }
          pageInfo { endCursor hasNextPage }
        } __typename } cursor }
        pageInfo { endCursor hasNextPage }
      }
      id
    }`;
    const review = aReview(t.db, { authorId: 'alice' });
    aComment(t.db, { reviewId: review.id, authorId: 'bob' });
    const answer = await t.gql(refetch, { id: Buffer.from('User:alice').toString('base64') });
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.node.reviews.edges[0].node.comments.edges[0].node.author.name).toBe('bob');
  });

  it('refuse 1,000 aliases, and 16, before they run', async () => {
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: reviews { totalCount }`).join(' ')} }`;
    for (const n of [1000, 16]) {
      const response = await t.gql(aliases(n));
      expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
      // 1,000 aliases already fail the token limit while parsing, which Yoga answers 200 to
      // `application/json` clients, as the GraphQL-over-HTTP spec asks for unparsable documents.
      expect([200, 400]).toContain(response.status);
    }
    expect((await t.gql(aliases(16))).errors?.[0]?.message).toBe(
      'Aliases limit of 15 (MAX_ALIASES) exceeded, found 16',
    );
    expect(t.statements).toEqual([]);
    expect((await t.gql(aliases(15))).errors).toBeUndefined();
  });

  it('refuse a document of too many tokens while parsing it', async () => {
    const response = await t.gql(`{ ${'__typename '.repeat(testConfig.maxTokens)} }`);
    expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
    expect(response.errors?.[0]?.message).toBe('Token limit of 2000 (MAX_TOKENS) exceeded');
  });

  it('refuse too many directives', async () => {
    const response = await t.gql(`{ reviews { totalCount ${'@include(if: true) '.repeat(11)} } }`);
    expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
    expect(response.errors?.[0]?.message).toBe('Directives limit of 10 (MAX_DIRECTIVES) exceeded, found 11');
  });

  it('weigh page sizes into the cost, whether written in or passed as variables', async () => {
    const fanOut = `query($n: Int) { reviews(first: $n) { nodes { comments(first: $n) { nodes {
      review { comments(first: $n) { nodes { body } } } } } } } }`;
    for (const response of [
      await t.gql(fanOut, { n: 100 }),
      await t.gql(fanOut.replace('($n: Int)', '').replaceAll('$n', '100')),
    ]) {
      expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
      expect(response.errors?.[0]?.message).toMatch(/Cost limit of 20000 exceeded/);
    }
    expect(t.statements).toEqual([]);
    expect((await t.gql(fanOut, { n: 2 })).errors).toBeUndefined();
    // A verdict is remembered per document and page size, never for the document alone.
    expect(errorCode(await t.gql(fanOut, { n: 100 }))).toBe('QUERY_TOO_COMPLEX');
    expect((await t.gql(fanOut, { n: 2 })).errors).toBeUndefined();
  });

  it('are configurable: a stricter depth refuses what the default takes', async () => {
    const db = openDatabase(':memory:');
    applyMigrations(db);
    const strict = createApp({ db, config: { ...testConfig, maxDepth: 3 } });
    const response = await strict.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PAGE_QUERY }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/depth limit of 3 \(MAX_DEPTH\) exceeded, found 4/);
  });

  it('refuse a batch of more than MAX_BATCH_OPERATIONS, and weigh each operation of one as if alone', async () => {
    const batch = (queries: string[]) =>
      t.app.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(queries.map((query) => ({ query }))),
      });
    const tooMany = await batch(Array.from({ length: MAX_BATCH_OPERATIONS + 1 }, () => '{ __typename }'));
    expect(tooMany.status).toBe(413);
    expect(await tooMany.text()).toMatch(/Batching is limited to 10 operations per request/);
    const empty = await batch([]);
    expect(empty.status).toBe(400);
    expect(await empty.text()).toMatch(/A batch needs at least one operation/);
    const heavy = `{ reviews(first: 100) { nodes { comments(first: 100) { nodes { review { comments(first: 100) { nodes { body } } } } } } } }`;
    const answers = (await (await batch(['{ reviews { totalCount } }', heavy])).json()) as Data[];
    expect(answers[0]).toEqual({ data: { reviews: { totalCount: 0 } } });
    expect(answers[1]?.errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(answers[1]?.errors[0].message).toMatch(/Cost limit of 20000 exceeded/);
  });
});

describe('page size', () => {
  it('is clamped to 100 on every connection, with hasNextPage telling there is more', async () => {
    const author = aUser(t.db, 'prolific');
    const review = aReview(t.db, { authorId: author });
    for (let i = 0; i < 119; i++) aReview(t.db, { authorId: author });
    for (let i = 0; i < 120; i++) aComment(t.db, { reviewId: review.id });
    const page = '(first: 1000) { nodes { id } pageInfo { hasNextPage } }';
    const variables = { r: review.globalId, u: Buffer.from(`User:${author}`).toString('base64') };
    const connections = [
      ['{ reviews', '}', (data: Data) => data.reviews],
      ['query($r: ID!) { review(id: $r) { comments', '} }', (data: Data) => data.review.comments],
      ['query($u: ID!) { node(id: $u) { ... on User { reviews', '} } }', (data: Data) => data.node.reviews],
    ] as const;
    for (const [head, tail, connectionOf] of connections) {
      const response = await t.gql(`${head}${page} ${tail}`, variables);
      expect(response.errors).toBeUndefined();
      const connection = connectionOf(response.data as Data);
      expect(connection.nodes).toHaveLength(100);
      expect(connection.pageInfo.hasNextPage).toBe(true);
    }
  });
});

describe('request body size', () => {
  it('answers 413 to a body over MAX_BODY_BYTES, over real HTTP', async () => {
    const served = await serveApp();
    try {
      const padding = 'x'.repeat(testConfig.maxBodyBytes);
      const response = await post(served.url, { query: '{ __typename }', variables: { padding } });
      expect(response.status).toBe(413);
      const fits = await post(served.url, { query: '{ __typename }', variables: { padding: 'x'.repeat(1000) } });
      expect(fits.status).toBe(200);
    } finally {
      await served.close();
    }
  });

  it('counts a chunked body, which declares no length, and stops it at MAX_BODY_BYTES', async () => {
    const served = await serveApp();
    try {
      const chunked = async (padding: number) => {
        const body = JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(padding) } });
        const { status, text } = await sendChunked(served.url, body);
        return { status, body: JSON.parse(text) };
      };
      const over = await chunked(testConfig.maxBodyBytes);
      expect(over.status).toBe(413);
      expect(over.body.errors[0].extensions.code).toBe('REQUEST_ENTITY_TOO_LARGE');
      const fits = await chunked(1000);
      expect(fits.status).toBe(200);
      expect(fits.body.data).toEqual({ __typename: 'Query' });
    } finally {
      await served.close();
    }
  });
});

/**
 * A POST whose body goes in 1 KiB chunks with Transfer-Encoding: chunked, as a streaming client
 * sends it: each chunk once the last is written, and no more once the server has answered.
 */
function sendChunked(url: string, body: string) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    let answered = false;
    const request = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (response) => {
        answered = true;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', (error) => answered || reject(error));
    const send = (at: number) => {
      if (answered) return;
      if (at >= body.length) return void request.end();
      request.write(body.slice(at, at + 1024), () => setImmediate(send, at + 1024));
    };
    send(0);
  });
}

describe('query timeout', () => {
  let release: () => void = () => {};
  afterEach(() => release());

  it('answers TIMEOUT for a query still running after REQUEST_TIMEOUT_MS', async () => {
    const stuck = new Promise<string>((resolve) => {
      release = () => resolve('late');
    });
    const yoga = createYoga({
      schema: createSchema({ typeDefs: 'type Query { slow: String }', resolvers: { Query: { slow: () => stuck } } }),
      plugins: queryLimitPlugins({ ...testConfig, requestTimeoutMs: 100 }),
    });
    const response = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ slow }' }),
    });
    const body = await response.json();
    expect(response.status).toBe(503);
    expect(body.errors[0].extensions.code).toBe('TIMEOUT');
  });
});

describe('the cost budget', () => {
  it('is held by an answer in parts until its last part is sent or its client leaves, over real HTTP', async () => {
    // Each deferred `slow` waits until the test lets it go; every document below costs 2, and
    // MAX_COST=2 gives a budget of two such documents at once.
    const pending: (() => void)[] = [];
    const yoga = createYoga({
      schema: createSchema({
        typeDefs: 'type Query { quick: String, slow: String }',
        resolvers: {
          Query: {
            quick: () => 'quick',
            slow: () => new Promise<string>((resolve) => pending.push(() => resolve('slow'))),
          },
        },
      }),
      plugins: [...queryLimitPlugins({ ...testConfig, maxCost: 2 }), useDeferStream()],
    });
    const server = createServer(yoga).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const send = (document: string, accept = 'application/json', signal?: AbortSignal) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ query: document }),
        signal,
      });
    /** A deferred answer, read up to its first part; `rest` reads it to its end. */
    const deferred = async (signal?: AbortSignal) => {
      const response = await send('{ quick ... @defer { slow } }', 'multipart/mixed', signal);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = '';
      const readUntil = async (done: (text: string) => boolean) => {
        while (!done(text)) {
          const chunk = await reader.read();
          if (chunk.done) break;
          text += decoder.decode(chunk.value, { stream: true });
        }
        return text;
      };
      const first = await readUntil((sofar) => sofar.includes('"quick"'));
      return { first, rest: () => readUntil(() => false) };
    };
    const whole = async () => ((await (await send('{ quick other: quick }')).json()) as Data).data;
    /** Whether `answer` is in before a whole document without a turn to wait for would be. */
    const answeredAtOnce = (answer: Promise<unknown>) =>
      Promise.race([answer.then(() => true), new Promise((at) => setTimeout(() => at(false), 500))]);
    try {
      const first = await deferred();
      expect(first.first).toContain('"quick"');
      const leaving = new AbortController();
      await deferred(leaving.signal);
      // Both first parts are sent; their deferred parts still run and hold the budget.
      const third = whole();
      expect(await answeredAtOnce(third)).toBe(false);
      // The first answer's last part sent: the third runs.
      pending.shift()?.();
      expect(await first.rest()).toContain('"slow"');
      expect(await third).toEqual({ quick: 'quick', other: 'quick' });

      // A client that reads the first part and leaves gives its share back too.
      await deferred();
      const fourth = whole();
      expect(await answeredAtOnce(fourth)).toBe(false);
      leaving.abort();
      expect(await fourth).toEqual({ quick: 'quick', other: 'quick' });
    } finally {
      for (const resolve of pending.splice(0)) resolve();
      server.closeAllConnections();
      server.close();
    }
  });
});

function appFor(overrides: Partial<Config>) {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  return createApp({ db, config: { ...testConfig, ...overrides } });
}

async function query(app: ReturnType<typeof appFor>, document: string) {
  const response = await app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: document }),
  });
  return (await response.json()) as { data?: unknown; errors?: { message: string }[] };
}

describe('production', () => {
  it('turns introspection and field suggestions off; development keeps both', async () => {
    const production = appFor({ env: 'production' });
    const development = appFor({ env: 'development' });
    const introspection = '{ __schema { types { name } } }';
    expect((await query(production, introspection)).errors?.[0]?.message).toMatch(/introspection/i);
    expect((await query(development, introspection)).errors).toBeUndefined();
    const typo = '{ reviews { nodes { titel } } }';
    expect((await query(production, typo)).errors?.[0]?.message).not.toMatch(/Did you mean/);
    expect((await query(development, typo)).errors?.[0]?.message).toMatch(/Did you mean "title"/);
  });

  it('serves GraphiQL only when GRAPHIQL says so', async () => {
    const page = (app: ReturnType<typeof appFor>) =>
      app.fetch('http://localhost/graphql', { headers: { accept: 'text/html' } });
    const shown = await page(appFor({ graphiql: true }));
    expect(shown.headers.get('content-type')).toMatch(/text\/html/);
    const hidden = await page(appFor({ graphiql: false }));
    expect(hidden.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
  });
});

describe('CSRF prevention', () => {
  const graphql = (init: RequestInit, search = '') => t.app.fetch(`http://localhost/graphql${search}`, init);

  it('refuses a GET or a form-encoded POST a browser could send cross-site without a preflight', async () => {
    expect((await graphql({}, '?query={__typename}')).status).toBe(403);
    const form = await graphql({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query={__typename}',
    });
    expect(form.status).toBe(403);
    const text = await graphql({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expect(text.status).toBe(403);
  });

  it('lets through JSON POSTs (as GraphiQL and API clients send them), GETs with the header, and the GraphiQL page', async () => {
    const json = await graphql({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(await json.json()).toEqual({ data: { __typename: 'Query' } });
    const get = await graphql({ headers: { 'x-graphql-yoga-csrf': '1' } }, '?query={__typename}');
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    const page = await graphql({ headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
  });
});
