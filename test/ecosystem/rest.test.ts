import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from '../support/app.ts';
import { answerChecker } from './openapi-answers.ts';
import { type Served, serve } from './served.ts';

interface Call {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape.
  body: any;
}

const code = (response: Call) => response.body.errors?.[0]?.extensions?.code;

async function openApiDocument(origin: string) {
  return (await fetch(`${origin}/api/openapi.json`)).json();
}

/** Every answer `call` gets is checked against the OpenAPI document the service serves. */
let answers: ReturnType<typeof answerChecker>;
beforeAll(async () => {
  const served = await serve();
  answers = answerChecker(await openApiDocument(served.origin), '/api');
  await served.close();
});

async function call(
  origin: string,
  method: string,
  path: string,
  { token, body }: { token?: string; body?: unknown } = {},
) {
  const response = await fetch(`${origin}/api${path}`, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(token && { authorization: `Bearer ${token}` }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const answer = { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null } as Call;
  expect(answers.check(method, `/api${path}`, answer.status, answer.body), `${method} ${path}`).toEqual([]);
  // Every refusal says why in a code a client can branch on.
  if (answer.status >= 400) expect(code(answer), `${method} ${path}`).toEqual(expect.any(String));
  return answer;
}

describe('REST through SOFA', () => {
  let served: Served;
  let alice: string;
  let bob: string;
  /** Every `METHOD /path/{param}` this suite called, to compare with the document's. */
  const called = new Set<string>();
  const rest = (method: string, template: string, params: Record<string, string>, options = {}) => {
    called.add(`${method} ${template}`);
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
    return call(served.origin, method, path, options);
  };

  beforeAll(async () => {
    served = await serve();
    alice = await tokenFor('alice', { name: 'Alice' });
    bob = await tokenFor('bob', { name: 'Bob' });
  });
  afterAll(() => served.close());

  it('serves every route of its OpenAPI document, with the documented statuses', async () => {
    const created = await rest(
      'POST',
      '/reviews',
      {},
      {
        token: alice,
        body: { subject: 'moka-pot', rating: 4, title: 'Strong', body: 'Stovetop classic.' },
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.review).toMatchObject({
      subject: 'moka-pot',
      rating: 4,
      version: 1,
      author: { name: 'Alice' },
    });
    const id = created.body.review.id as string;

    const list = await rest('GET', '/reviews', {}, {});
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ totalCount: 1, nodes: [{ id, title: 'Strong', commentCount: 0 }] });
    const filtered = await call(served.origin, 'GET', '/reviews?subject=nothing&first=5&orderBy=RATING_HIGH');
    expect(filtered.body).toMatchObject({ totalCount: 0, nodes: [] });

    expect((await rest('GET', '/reviews/{id}', { id })).body).toMatchObject({ id, body: 'Stovetop classic.' });

    const updated = await rest(
      'PATCH',
      '/reviews/{id}',
      { id },
      { token: alice, body: { rating: 5, expectedVersion: 1 } },
    );
    expect(updated.status).toBe(200);
    expect(updated.body.review).toMatchObject({ id, rating: 5, version: 2 });

    const added = await rest(
      'POST',
      '/reviews/{reviewId}/comments',
      { reviewId: id },
      { token: bob, body: { body: 'Agreed.' } },
    );
    expect(added.status).toBe(201);
    const commentId = added.body.comment.id as string;

    const comments = await rest('GET', '/reviews/{reviewId}/comments', { reviewId: id });
    expect(comments.body).toMatchObject({
      totalCount: 1,
      nodes: [{ id: commentId, body: 'Agreed.', author: { name: 'Bob' } }],
    });
    const comment = await rest('GET', '/reviews/{reviewId}/comments/{id}', { reviewId: id, id: commentId });
    expect(comment.body).toMatchObject({ id: commentId, body: 'Agreed.' });

    const edited = await rest('PATCH', '/comments/{id}', { id: commentId }, { token: bob, body: { body: 'Agreed!' } });
    expect(edited.body.comment).toMatchObject({ body: 'Agreed!', version: 2 });

    expect((await rest('GET', '/rating-summary', {})).status).toBe(400); // subject is required
    const summary = await call(served.origin, 'GET', '/rating-summary?subject=moka-pot');
    expect(summary.body).toEqual({ subject: 'moka-pot', count: 1, average: 5, histogram: [0, 0, 0, 0, 1] });
    expect((await rest('GET', '/viewer', {}, { token: bob })).body).toMatchObject({ name: 'Bob' });
    // What may be null is documented so: the anonymous viewer, the mean of no ratings.
    expect((await rest('GET', '/viewer', {})).body).toBeNull();
    const none = await call(served.origin, 'GET', '/rating-summary?subject=nothing-yet');
    expect(none.body).toEqual({ subject: 'nothing-yet', count: 0, average: null, histogram: [0, 0, 0, 0, 0] });

    const gone = await rest('DELETE', '/comments/{id}', { id: commentId }, { token: bob });
    expect(gone.body).toEqual({ deletedId: commentId });
    const deleted = await rest('DELETE', '/reviews/{id}', { id }, { token: alice, body: { expectedVersion: 2 } });
    expect(deleted.body).toEqual({ deletedId: id });
    expect((await rest('GET', '/reviews/{id}', { id })).status).toBe(404);

    const document = await openApiDocument(served.origin);
    const documented = Object.entries(document.paths as Record<string, object>).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...called].sort()).toEqual(documented.sort());
  });

  it('maps error codes to HTTP statuses', async () => {
    const input = { subject: 'percolator', rating: 3, title: 'Fine', body: 'Bitter.' };
    expect((await call(served.origin, 'POST', '/reviews', { body: input })).status).toBe(401);
    const first = await call(served.origin, 'POST', '/reviews', { token: alice, body: input });
    const id = first.body.review.id as string;

    const again = await call(served.origin, 'POST', '/reviews', { token: alice, body: input });
    expect([again.status, code(again)]).toEqual([409, 'CONFLICT']);
    const stale = await call(served.origin, 'PATCH', `/reviews/${id}`, {
      token: alice,
      body: { title: 'x', expectedVersion: 7 },
    });
    expect([stale.status, code(stale)]).toEqual([409, 'CONFLICT']);
    const notYours = await call(served.origin, 'PATCH', `/reviews/${id}`, { token: bob, body: { title: 'Mine now' } });
    expect([notYours.status, code(notYours)]).toEqual([403, 'FORBIDDEN']);
    const invalid = await call(served.origin, 'POST', '/reviews', { token: bob, body: { ...input, rating: 9 } });
    expect([invalid.status, code(invalid)]).toEqual([400, 'BAD_USER_INPUT']);
    const wrongType = await call(served.origin, 'POST', '/reviews', { token: bob, body: { ...input, rating: 'five' } });
    expect(wrongType.status).toBe(400);
    const missing = await call(served.origin, 'GET', '/reviews/UmV2aWV3Ojk5OTk=/comments');
    expect([missing.status, code(missing)]).toEqual([404, 'NOT_FOUND']);
    const badToken = { token: `${alice}x` };
    const refusedEverywhere = [
      ['GET', '/reviews?first=abc', {}, 400],
      ['GET', '/viewer', badToken, 401],
      ['GET', `/reviews/${id}/comments/Q29tbWVudDo5OTk5`, {}, 404],
      ['POST', '/reviews/UmV2aWV3Ojk5OTk=/comments', { token: bob, body: { body: 'Hello?' } }, 404],
      ['PATCH', '/comments/Q29tbWVudDox', { body: { body: 'x' } }, 401],
      ['DELETE', '/comments/Q29tbWVudDox', {}, 401],
      ['DELETE', `/reviews/${id}`, { token: bob }, 403],
    ] as const;
    for (const [method, path, options, status] of refusedEverywhere) {
      expect((await call(served.origin, method, path, options)).status, `${method} ${path}`).toBe(status);
    }
    const badJson = await fetch(`${served.origin}/api/reviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
      body: '{"subject":',
    });
    expect([badJson.status, (await badJson.json()).errors[0].extensions.code]).toEqual([400, 'BAD_REQUEST']);
    for (const response of [again, stale, notYours, invalid]) {
      expect(JSON.stringify(response.body)).not.toMatch(/"http"|stack|SELECT/i);
    }
  });

  it('answers only its own routes under /api: no SOFA webhooks', async () => {
    const webhook = await call(served.origin, 'POST', '/webhook', {
      body: { subscription: 'reviewAdded', variables: { subject: 'x' }, url: 'http://127.0.0.1:9/' },
    });
    expect(webhook.status).toBe(404);
    expect((await call(served.origin, 'GET', '/node?id=UmV2aWV3OjE=')).status).toBe(404);
    expect((await call(served.origin, 'GET', '/reviews/%E0%A4%A')).status).toBe(404);
  });
});

describe('REST errors that depend on the node and the limits', () => {
  it('answers 503 READ_ONLY on a node that may not write', async () => {
    const served = await serve({ node: { whyReadOnly: () => 'standby', describe: () => ({ role: 'standby' }) } });
    try {
      const response = await call(served.origin, 'POST', '/reviews', {
        token: await tokenFor('carol'),
        body: { subject: 'siphon', rating: 5, title: 'Theatre', body: 'Fun to watch.' },
      });
      expect([response.status, code(response)]).toEqual([503, 'READ_ONLY']);
    } finally {
      await served.close();
    }
  });

  it('answers 429 with Retry-After past the mutation rate limit: the limits apply to REST too', async () => {
    const served = await serve({ config: { rateLimit: true, rateLimitUserPerMinute: 1 } });
    try {
      const token = await tokenFor('dave');
      const post = (subject: string) =>
        call(served.origin, 'POST', '/reviews', { token, body: { subject, rating: 2, title: 'Meh', body: 'Weak.' } });
      expect((await post('pour-over')).status).toBe(201);
      const limited = await post('french-press');
      expect([limited.status, code(limited)]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await served.close();
    }
  });
});

describe('the answers of every route, against the OpenAPI document', () => {
  // Last in the file: every `call` above checked its answer; this shows they covered every route.
  it('saw a success and a refusal of every operation, each as documented', () => {
    for (const [operation, statuses] of Object.entries(answers.answered())) {
      expect(
        statuses.some((status) => status < 300),
        `${operation}: ${statuses}`,
      ).toBe(true);
      expect(
        statuses.some((status) => status >= 400 && status < 500),
        `${operation}: ${statuses}`,
      ).toBe(true);
    }
  });
});

describe('the OpenAPI document and its page', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve();
  });
  afterAll(() => served.close());

  it('is a valid OpenAPI document whose references all resolve and whose path parameters are declared', async () => {
    const document = await openApiDocument(served.origin);
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toMatch(/^3\./);
    expect(() => validator.resolveRefs()).not.toThrow();
    const paths = document.paths as Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    for (const [path, operations] of Object.entries(paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      for (const operation of Object.values(operations)) {
        const declared = (operation.parameters ?? [])
          .filter((p: { in: string }) => p.in === 'path')
          .map((p: { name: string }) => p.name);
        expect(declared.sort()).toEqual(inPath.sort());
      }
    }
    // A mutation's body is its input, less what the path says.
    const patch = document.paths['/reviews/{id}'].patch;
    expect(Object.keys(patch.requestBody.content['application/json'].schema.properties).sort()).toEqual([
      'body',
      'expectedVersion',
      'rating',
      'title',
    ]);
  });

  it('has a browsable page whose scripts and styles the service serves itself', async () => {
    const page = await fetch(`${served.origin}/api/docs`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset.startsWith('/api/docs/')).toBe(true);
      const response = await fetch(`${served.origin}${asset}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });
});
