import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_LIST_ARGUMENT } from '../../src/http/cost.ts';
import { type FinishedRequest, MAX_OPERATION_LABELS } from '../../src/http/metrics.ts';
import { useRequestLog, withFailuresAnswered } from '../../src/http/request-log.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, errorCode, testConfig, tokenFor } from '../support/app.ts';
import { aReview, aUser } from '../support/fixtures.ts';
import { post, serveApp } from './served.ts';

/**
 * The attacker's corpus of issue 17, each against a live server with the default limits (in
 * production where it matters): every answer is a 4xx or a bounded one, the server answers
 * the next request, and nothing ran that should not have.
 */

let served: Awaited<ReturnType<typeof serveApp>> | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

const origin = (url: string) => new URL(url).origin;

/** A log destination, and the JSON lines written to it. */
function capturedLines() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

/** A server in production with its log lines captured. */
async function serveProduction(overrides = {}) {
  const { lines, destination } = capturedLines();
  const logger = createLogger({ env: 'production', logLevel: 'info' }, destination);
  served = await serveApp({ env: 'production', ...overrides }, ':memory:', { logger });
  return { served, lines };
}

async function stillServing(url: string) {
  expect((await post(url, { query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
}

describe('documents that read more than they say', () => {
  it('refuses nodes(ids:) with 33,000 ids (SQLite refused them and the heap ran out) before any SQL', async () => {
    const t = createTestApp();
    const ids = Array.from({ length: 33_000 }, (_, i) => Buffer.from(`Review:${i + 1}`).toString('base64'));
    const response = await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.message).toMatch(/at most 100 elements, got 33000/);
    expect(t.statements).toEqual([]);
    // The documented bound itself is served, in one statement.
    const review = aReview(t.db);
    const atLimit = Array.from({ length: MAX_LIST_ARGUMENT }, () => review.globalId);
    const fits = await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: atLimit });
    expect(fits.errors).toBeUndefined();
    expect(fits.data?.nodes).toHaveLength(MAX_LIST_ARGUMENT);
  });

  it('counts a connection without `first` as its default page, not as one row', async () => {
    const t = createTestApp();
    // The document: scored 1,221, read 120,000 rows and 2.6 GB.
    const tree = 'reviews { nodes { comments { nodes { author { reviews { nodes { body } } } } } } }';
    const fifteen = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: ${tree}`).join(' ')} }`;
    for (const document of [fifteen, `{ ${tree} }`]) {
      const response = await t.gql(document);
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
      expect(response.errors?.[0]?.message).toMatch(/Cost limit of 20000 exceeded/);
    }
    expect(t.statements).toEqual([]);
  });

  it('weighs what a row carries: as many ids pass as bodies are refused', async () => {
    const t = createTestApp();
    const ids = (await t.gql('{ reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }')).errors;
    expect(ids).toBeUndefined();
    const bodies = await t.gql('{ reviews(first: 100) { nodes { comments(first: 100) { nodes { body } } } } }');
    expect(errorCode(bodies)).toBe('QUERY_TOO_COMPLEX');
  });

  it('counts an alias named __typename like any other', async () => {
    const t = createTestApp();
    const others = Array.from({ length: testConfig.maxAliases }, (_, i) => `a${i}: reviews { totalCount }`);
    const response = await t.gql(`{ __typename: reviews { totalCount } ${others.join(' ')} }`);
    expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
    expect(response.errors?.[0]?.message).toMatch(/^Aliases limit of 15 \(MAX_ALIASES\) exceeded, found 16$/);
  });

  it.each([
    ['compiled', true],
    ['ordinary', false],
  ])('refuses an answer larger than MAX_RESPONSE_BYTES instead of building it (%s reads)', async (_path, fastReads) => {
    ({ served } = await serveProduction({ maxResponseBytes: 50_000, fastReads }));
    for (let i = 0; i < 10; i++) aReview(served.db, { body: 'b'.repeat(10_000) });
    const response = await post(served.url, { query: '{ reviews { nodes { body } } }' });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('QUERY_TOO_COMPLEX');
    expect(response.errors?.[0]?.message).toMatch(/larger than 50000 bytes/);
    const small = await post(served.url, { query: '{ reviews(first: 2) { nodes { body } } }' });
    expect(small.data?.reviews.nodes).toHaveLength(2);
    // Counted in bytes as sent: 36,000 characters fit in 50,000, their 72,000 bytes of UTF-8 do not.
    for (let i = 0; i < 4; i++) aReview(served.db, { subject: 'accents', body: 'é'.repeat(9000) });
    const accented = await post(served.url, { query: '{ reviews(subject: "accents") { nodes { body } } }' });
    expect(accented.status).toBe(400);
    expect(accented.errors?.[0]?.message).toMatch(/larger than 50000 bytes/);
  });
});

describe('hostile request bodies, over real HTTP', () => {
  it('answers deeply nested JSON variables and huge strings with a 4xx, and serves on', async () => {
    ({ served } = await serveProduction());
    const depth = 100_000;
    const deep = `{"query":"query($ids: [ID!]!) { nodes(ids: $ids) { id } }","variables":{"ids":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const nested = await post(served.url, deep);
    expect(nested.status).toBeGreaterThanOrEqual(400);
    expect(nested.status).toBeLessThan(500);
    const huge = await post(served.url, {
      query: 'query($s: String) { reviews(subject: $s) { totalCount } }',
      variables: { s: 'x'.repeat(testConfig.maxBodyBytes - 200) },
    });
    expect(huge.status).toBe(200);
    expect(huge.data?.reviews.totalCount).toBe(0);
    await stillServing(served.url);
  });

  it('cuts a body trickled byte by byte once the request timeout passes', async () => {
    served = await serveApp({}, ':memory:', {
      timeouts: { headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 500, stalledReaderMs: 5000 },
    });
    const { port } = new URL(served.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(
      'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const trickle = setInterval(() => socket.write(' '), 100);
    const answer = await closedWith(socket);
    clearInterval(trickle);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    await stillServing(served.url);
  });

  it('builds one answer at a time for a connection that pipelines and never reads, and cuts it', async () => {
    served = await serveApp({ env: 'production' }, ':memory:', {
      timeouts: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, stalledReaderMs: 1000 },
    });
    const author = aUser(served.db, 'writer');
    for (let r = 0; r < 100; r++) aReview(served.db, { authorId: author, body: 'r'.repeat(10_000) });
    // Near the cost limit, ~4 MB of bodies per answer; ten sockets write four requests at once
    // and never read.
    const query = `{ ${Array.from({ length: 4 }, (_, i) => `a${i}: reviews(first: 100) { nodes { body } }`).join(' ')} }`;
    const body = JSON.stringify({ query });
    const request = `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const { url } = served;
    const { port } = new URL(url);
    const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answerBytes = (await answer.arrayBuffer()).byteLength;
    const answered = async () => {
      const metrics = await (await fetch(`${origin(url)}/metrics`)).text();
      const count =
        /reviews_api_http_request_duration_seconds_count\{method="POST",status="200",operation="Anonymous"\} (\d+)/;
      return Number(metrics.match(count)?.[1] ?? 0);
    };
    const before = await answered();
    const sockets = Array.from({ length: 10 }, () => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.pause();
      socket.write(request.repeat(4));
      return { socket, received: closedWith(socket) };
    });
    // Checked every second, the stalled sockets are cut within two.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await stillServing(served.url);
    const built = (await answered()) - before - 1;
    // Reading now, each finds its connection closed after what the kernel had taken of it.
    for (const { socket } of sockets) socket.resume();
    const received = await Promise.all(sockets.map((s) => s.received));
    // Each connection had an answer built only once the kernel took the one before it whole
    // (loopback buffers can grow past one 4 MB answer): the one it was blocked on was cut, and
    // those behind it never ran. So every answer built left a status line in the kernel, and a
    // connection never had its four answers built and held at once.
    const begun = received.map((text) => text.split('HTTP/1.1 200').length - 1);
    expect(built).toBe(begun.reduce((sum, count) => sum + count, 0));
    for (const [i, count] of begun.entries()) {
      expect(count).toBeGreaterThanOrEqual(1);
      expect(count).toBeLessThan(4);
      expect((received[i] as string).length).toBeLessThan(count * (answerBytes + 1024));
    }
    expect((await answered()) - before - 1).toBe(built);
    await stillServing(served.url);
  }, 20_000);
});

describe('state a client could grow', () => {
  it('keeps /metrics bounded under unique operation names', async () => {
    ({ served } = await serveProduction());
    const metricsUrl = `${origin(served.url)}/metrics`;
    const names = MAX_OPERATION_LABELS + 400;
    for (let i = 0; i < names; i++) await post(served.url, { query: `query Q${i}x { __typename }` });
    const first = (await (await fetch(metricsUrl)).text()).length;
    for (let i = names; i < names + 400; i++) await post(served.url, { query: `query Q${i}x { __typename }` });
    const text = await (await fetch(metricsUrl)).text();
    expect(text.length).toBeLessThan(first * 1.02);
    expect(text).toMatch(/operation="other"/);
    const labelled = new Set(text.match(/operation="Q\d+x"/g));
    expect(labelled.size).toBeLessThanOrEqual(MAX_OPERATION_LABELS);
  });
});

describe('leaks', () => {
  it('answers prototype names under /api/docs with 404, logged and counted', async () => {
    const { served: server, lines } = await serveProduction();
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const response = await fetch(`${origin(server.url)}/api/docs/${name}`);
      expect(response.status, name).toBe(404);
      expect(await response.text()).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    const logged = lines.filter((line) => line.msg === 'request' && line.status === 404);
    expect(logged).toHaveLength(5);
    const metrics = await (await fetch(`${origin(server.url)}/metrics`)).text();
    expect(metrics).toMatch(
      /reviews_api_http_request_duration_seconds_count\{method="GET",status="404",operation="none"\} 5/,
    );
  });

  it('answers a failing route outside GraphQL as a masked JSON 500, logged and counted', async () => {
    const { lines, destination } = capturedLines();
    const logger = createLogger({ env: 'production', logLevel: 'info' }, destination);
    const counted: FinishedRequest[] = [];
    const failing = { onRequest: () => Promise.reject(new Error('ENOENT at /srv/app/rest-docs.ts:47')) };
    const yoga = createYoga({
      schema: createSchema({ typeDefs: 'type Query { a: Int }' }),
      logging: false,
      plugins: [useRequestLog(logger, (request) => counted.push(request)), withFailuresAnswered(failing, logger)],
    });
    const response = await yoga.fetch('http://localhost/api/docs/swagger-ui.css');
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ errors: [{ message: 'Unexpected error.' }] });
    expect(counted.map((request) => request.status)).toEqual([500]);
    expect(lines.map((line) => [line.msg, line.level])).toEqual([
      ['request failed', 50],
      ['request', 30],
    ]);
  });

  it('gives no "Did you mean" in production, through variables either', async () => {
    ({ served } = await serveProduction());
    const viaVariable = await post(served.url, {
      query: 'query($o: ReviewOrder) { reviews(orderBy: $o) { totalCount } }',
      variables: { o: 'NEWES' },
    });
    const inline = await post(served.url, { query: '{ reviews(orderBy: NEWES) { totalCount } }' });
    const rest = await fetch(`${origin(served.url)}/api/reviews?orderBy=NEWES`);
    for (const text of [JSON.stringify(viaVariable), JSON.stringify(inline), await rest.text()]) {
      expect(text).toMatch(/NEWES/);
      expect(text).not.toMatch(/Did you mean|NEWEST/);
    }
  });
});

describe('client mistakes are BAD_USER_INPUT, logged as requests, not as failures', () => {
  const badCursor = Buffer.from('DC:D:abc').toString('base64');

  it('over GraphQL: a malformed cursor, an unknown node type, a variable that does not coerce', async () => {
    const { served: server, lines } = await serveProduction();
    const cases = [
      { query: 'query($a: String) { reviews(after: $a) { totalCount } }', variables: { a: badCursor } },
      { query: `{ reviews(after: "${badCursor}") { totalCount } }` },
      { query: 'query($n: Int) { reviews(first: $n) { totalCount } }', variables: { n: 'abc' } },
      { query: 'query($o: ReviewOrder) { reviews(orderBy: $o) { totalCount } }', variables: { o: 1 } },
    ];
    for (const body of cases) {
      const response = await post(server.url, body);
      expect(response.status, body.query).toBe(400);
      expect(errorCode(response), body.query).toBe('BAD_USER_INPUT');
    }
    const unknownType = await post(server.url, { query: '{ node(id: "Tm9wZTox") { id } }' });
    expect(errorCode(unknownType)).toBe('BAD_USER_INPUT');
    expect(unknownType.errors?.[0]?.message).not.toMatch(/implemented/);
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
  });

  it('over REST, with status 400', async () => {
    const { served: server, lines } = await serveProduction();
    for (const path of [
      `/api/reviews?after=${encodeURIComponent(badCursor)}`,
      '/api/reviews?first=abc',
      '/api/reviews?orderBy=NEWES',
    ]) {
      const response = await fetch(`${origin(server.url)}${path}`);
      expect(response.status, path).toBe(400);
      const body = (await response.json()) as { errors: { extensions: { code: string; unexpected?: boolean } }[] };
      expect(body.errors[0]?.extensions.code, path).toBe('BAD_USER_INPUT');
      expect(body.errors[0]?.extensions.unexpected, path).toBeUndefined();
    }
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
  });

  it('keeps a logged failure bounded: SQL and parameters are cut', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ env: 'production', logLevel: 'info' }, destination);
    const failed = new Error(`Failed query: select … in (${'?, '.repeat(33_000)}?)\nparams: ${'1,'.repeat(33_000)}`);
    logger.error(failed);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.length).toBeLessThan(10_000);
    expect(lines[0]).toMatch(/Failed query: select/);
  });
});

/** Everything the server sent on `socket` until it closed the connection. */
function closedWith(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
  });
}

describe('issue 23: one caching rule, nothing echoed', () => {
  const withToken = async () => ({ authorization: `Bearer ${await tokenFor('alice', { name: 'Alice' })}` });
  const READ = encodeURIComponent('{ reviews(first: 1) { nodes { id } } }');

  it.each(['/graphql/', '//graphql'])('answers a token holder GET on %s as private, as on /graphql', async (path) => {
    served = await serveApp({ env: 'production' });
    const response = await fetch(`${origin(served.url)}${path}?query=${READ}`, {
      headers: { ...(await withToken()), 'x-graphql-yoga-csrf': '1' },
    });
    expect(response.headers.get('cache-control')).toBe('private, no-store');
  });

  it('answers REST reads of a token holder (GET /api/viewer) as private', async () => {
    served = await serveApp({ env: 'production' });
    const response = await fetch(`${origin(served.url)}/api/viewer`, { headers: await withToken() });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('private, no-store');
  });

  it('refuses a body that is not JSON without quoting any of it', async () => {
    served = await serveApp({ env: 'production' });
    const response = await fetch(served.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": "{ reviews { nodes { id } } }", secret-in-the-body',
    });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).toContain('invalid JSON');
    expect(text).not.toContain('secret-in-the-body');
  });
});
