import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeState } from '../../src/context.ts';
import { aliceToken, graphql, type Served, serve } from './served.ts';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

/** A line of the Prometheus text format, by metric name and labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text
    .split('\n')
    .find(
      (candidate) =>
        candidate.startsWith(`${name}{`) &&
        Object.entries(labels).every(([label, value]) => candidate.includes(`${label}="${value}"`)),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('/metrics', () => {
  it('counts requests and latency by operation, errors by code, REST routes too, and the node figures', async () => {
    const replication = {
      litestream: { status: 'up', restarts: 0 },
      lagSeconds: 0.25,
      lastSyncAt: '2026-01-02T03:04:05.000Z',
    };
    const node: NodeState = { whyReadOnly: () => null, describe: () => ({ role: 'primary', replication }) };
    served = await serve({ node });
    const { origin } = served;

    await graphql(origin, 'query LatestReviews { reviews(first: 1) { totalCount } }');
    await graphql(origin, 'query LatestReviews { reviews(first: 1) { totalCount } }');
    await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation Sneaky { deleteReview(input: { id: "UmV2aWV3OjE=" }) { deletedId } }' }),
    });
    expect((await fetch(`${origin}/api/reviews`)).status).toBe(200);
    const anonymousRest = await fetch(`${origin}/api/reviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'tamper', rating: 3, title: 'Flat', body: 'Even.' }),
    });
    expect(anonymousRest.status).toBe(401);
    await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query Typo { reviewz { totalCount } }' }),
    });

    const scrape = await fetch(`${origin}/metrics`);
    expect(scrape.headers.get('content-type')).toContain('text/plain');
    const text = await scrape.text();
    expect(
      sample(text, 'reviews_api_http_request_duration_seconds_count', {
        operation: 'LatestReviews',
        method: 'POST',
        status: '200',
      }),
    ).toBe(2);
    expect(sample(text, 'reviews_api_graphql_errors_total', { operation: 'Sneaky', code: 'UNAUTHENTICATED' })).toBe(1);
    expect(
      sample(text, 'reviews_api_graphql_errors_total', { operation: 'createReview_mutation', code: 'UNAUTHENTICATED' }),
    ).toBe(1);
    expect(
      sample(text, 'graphql_envelop_error_result', {
        operationName: 'Typo',
        phase: 'validate',
        code: 'GRAPHQL_VALIDATION_FAILED',
      }),
    ).toBe(1);
    expect(
      sample(text, 'reviews_api_http_request_duration_seconds_count', { operation: 'reviews_query', method: 'GET' }),
    ).toBe(1);
    expect(text).toMatch(/^reviews_api_node_writable 1$/m);
    expect(sample(text, 'reviews_api_node_figure', { key: 'replication.lagSeconds' })).toBe(0.25);
    expect(sample(text, 'reviews_api_node_figure', { key: 'replication.lastSyncAt' })).toBe(
      Date.parse('2026-01-02T03:04:05.000Z') / 1000,
    );
    expect(sample(text, 'reviews_api_node_info', { key: 'replication.litestream.status', value: 'up' })).toBe(1);
    expect(sample(text, 'reviews_api_node_info', { key: 'role', value: 'primary' })).toBe(1);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);

    // Read at each scrape: Litestream going down shows on the next one.
    replication.litestream.status = 'down';
    replication.lagSeconds = 12;
    const later = await (await fetch(`${origin}/metrics`)).text();
    expect(sample(later, 'reviews_api_node_info', { key: 'replication.litestream.status', value: 'down' })).toBe(1);
    expect(
      sample(later, 'reviews_api_node_info', { key: 'replication.litestream.status', value: 'up' }),
    ).toBeUndefined();
    expect(sample(later, 'reviews_api_node_figure', { key: 'replication.lagSeconds' })).toBe(12);
  });
});

describe('request logs', () => {
  function capturedLogger() {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    return { logger: pino({ level: 'info' }, sink), lines };
  }

  it('writes one JSON line per request with operation, status, duration and user, never the token', async () => {
    const { logger, lines } = capturedLogger();
    served = await serve({ logger });
    const token = await aliceToken();
    const response = await fetch(`${served.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'trace-42' },
      body: JSON.stringify({
        query: 'mutation Write($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
        variables: { input: { subject: 'scale', rating: 4, title: 'Precise', body: 'To the gram.' } },
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('trace-42');

    const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      reqId: 'trace-42',
      method: 'POST',
      path: '/graphql',
      status: 200,
      operationName: 'Write',
      operationType: 'mutation',
      userId: 'alice',
    });
    expect(requests[0].durationMs).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('replaces an unacceptable incoming request id with its own, and logs REST requests by operation', async () => {
    const { logger, lines } = capturedLogger();
    served = await serve({ logger });
    const response = await fetch(`${served.origin}/api/reviews/UmV2aWV3Ojk5`, {
      headers: { 'x-request-id': 'has spaces and "quotes"' },
    });
    expect(response.status).toBe(404);
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const entry = lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'request');
    expect(entry).toMatchObject({
      reqId: id,
      path: '/api/reviews/UmV2aWV3Ojk5',
      status: 404,
      operationName: 'review_query',
    });
  });
});
