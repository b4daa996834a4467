import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config.ts';
import { type NodeState, standalonePrimary } from '../../src/context.ts';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { serverSentEvents, subscribe } from '../ecosystem/sse.ts';
import { tokenFor } from '../support/app.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';
import { type LaneRequest, type Seen, servedWithLane } from './lane.ts';

const ADD =
  'mutation Add($input: AddCommentInput!) { addComment(input: $input) { comment { id body createdAt author { name } } } }';
const ADD_ALIASED = `mutation Aliased($input: AddCommentInput!, $withReview: Boolean!) {
  made: addComment(input: $input) {
    __typename
    c: comment { __typename id v: version updatedAt ...Where author { id name } }
  }
}
fragment Where on Comment { review @include(if: $withReview) { id title commentCount author { name } } }`;
const UPDATE = `mutation($input: UpdateCommentInput!) { updateComment(input: $input) { comment { id body version } } }`;
const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id subject rating commentCount } } }`;
const ADD_EDGE = `mutation AddEdge($input: AddCommentInput!) {
  addComment(input: $input) { comment { id } commentEdge { __typename cursor node { id body author { name } review { commentCount } } } }
}`;
const CREATE_EDGE = `mutation CreateEdge($input: CreateReviewInput!) {
  createReview(input: $input) { e: reviewEdge { cursor node { id title commentCount author { id } } } }
}`;

type Served = Awaited<ReturnType<typeof servedWithLane>>;

/**
 * Two apps on identical databases, one with the lane and one with FAST_READS=off, sent the same
 * requests in the same order: every answer and, afterwards, every row must be the same. The
 * clock is held still, so the rows' timestamps (and a rate limit's Retry-After) match too.
 */
async function twins(overrides: Partial<Config> = {}, node?: NodeState) {
  const dbs = [openDatabase(':memory:'), openDatabase(':memory:')] as const;
  let review = '';
  let comment = 0;
  for (const db of dbs) {
    applyMigrations(db);
    aUser(db, 'bob', 'Bob');
    review = aReview(db, {
      authorId: 'alice',
      subject: 'grill',
      title: 'Hot and fast',
      body: 'Even heat.',
      createdAt: 1_700_000_000_000,
    }).globalId;
    comment = aComment(db, { reviewId: 1, authorId: 'bob', body: 'Mine', createdAt: 1_700_000_000_500 }).id;
  }
  const lane = await servedWithLane(dbs[0], overrides, { node });
  const yoga = await servedWithLane(dbs[1], { ...overrides, fastReads: false }, { node });
  opened.push(lane, yoga);
  /** The request to both; a document the lane does not know yet is sent once first (Yoga runs it). */
  const send = async (request: LaneRequest): Promise<Seen> => {
    const answers = [await lane.overHttp(request), await yoga.overHttp(request)];
    expect(answers[0], JSON.stringify(request.body)).toEqual(answers[1]);
    return answers[0] as Seen;
  };
  const rowsOf = (db: Db) =>
    Object.fromEntries(
      ['users', 'reviews', 'comments', 'idempotency_keys'].map((table) => [
        table,
        db.$client.prepare(`select * from ${table} order by rowid`).all(),
      ]),
    );
  const sameRows = () => expect(rowsOf(dbs[0])).toEqual(rowsOf(dbs[1]));
  return { lane, yoga, send, sameRows, review, comment: encodeGlobalID('Comment', comment), db: dbs[0] };
}

const opened: Served[] = [];
beforeEach(() => {
  vi.spyOn(Date, 'now').mockReturnValue(Date.now());
});
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((served) => served.close()));
});

const input = (fields: Record<string, unknown>) => ({ input: fields });

describe('the mutation lane answers as Yoga does, and writes the same rows', () => {
  it('for addComment with any selection, idempotency keys, and every refusal', async () => {
    const t = await twins();
    const alice = await tokenFor('alice', { name: 'Alice "the reviewer"\n' });
    const bob = await tokenFor('bob', { name: 'Bob' });
    const requests: LaneRequest[] = [
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'First' }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: '  Trimmed \u{1F600}  ' }) }, token: bob },
      {
        body: {
          query: ADD_ALIASED,
          variables: { ...input({ reviewId: t.review, body: 'Aliased' }), withReview: true },
          operationName: 'Aliased',
        },
        token: alice,
        headers: { accept: 'application/graphql-response+json' },
      },
      {
        body: { query: ADD_ALIASED, variables: { ...input({ reviewId: t.review, body: 'Bare' }), withReview: false } },
        token: alice,
      },
      // The same key twice writes once; the same key for another request is a CONFLICT.
      {
        body: { query: ADD, variables: input({ reviewId: t.review, body: 'Once', idempotencyKey: 'k-1' }) },
        token: alice,
      },
      {
        body: { query: ADD, variables: input({ reviewId: t.review, body: 'Once', idempotencyKey: 'k-1' }) },
        token: alice,
      },
      {
        body: { query: ADD, variables: input({ reviewId: t.review, body: 'Twice', idempotencyKey: 'k-1' }) },
        token: alice,
      },
      {
        body: { query: ADD, variables: input({ reviewId: t.review, body: 'Once', idempotencyKey: 'k-1' }) },
        token: bob,
      },
      {
        body: { query: ADD, variables: input({ reviewId: t.review, body: 'x', idempotencyKey: 'has space' }) },
        token: alice,
      },
      // No such review, a comment's id for a review's, an id that is no id.
      {
        body: { query: ADD, variables: input({ reviewId: encodeGlobalID('Review', 999), body: 'Lost' }) },
        token: alice,
      },
      { body: { query: ADD, variables: input({ reviewId: t.comment, body: 'Wrong type' }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: 'bm9wZQ', body: 'Garbage id' }) }, token: alice },
      // Bodies the schema refuses.
      { body: { query: ADD, variables: input({ reviewId: t.review, body: '   ' }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'x'.repeat(5_001) }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'nul\u0000' }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'lone \ud800' }) }, token: alice },
      // Wrong types and shapes.
      { body: { query: ADD, variables: input({ reviewId: 7, body: 'Int id' }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 12 }) }, token: alice },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'x', extra: 1 }) }, token: alice },
      { body: { query: ADD, variables: { input: null } }, token: alice },
      { body: { query: ADD, variables: { input: [t.review] } }, token: alice },
      // Not signed in, or with a token that is not one.
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'Anonymous' }) } },
      { body: { query: ADD, variables: input({ reviewId: t.review, body: 'Forged' }) }, token: `${alice}x` },
      // Mutations of the same shape come for free: a stale version, another's comment, a second review.
      { body: { query: UPDATE, variables: input({ id: t.comment, body: 'Edited' }) }, token: bob },
      { body: { query: UPDATE, variables: input({ id: t.comment, body: 'Stale', expectedVersion: 1 }) }, token: bob },
      { body: { query: UPDATE, variables: input({ id: t.comment, body: 'Not yours' }) }, token: alice },
      { body: { query: CREATE, variables: input({ subject: 's', rating: 5, title: 'T', body: 'B' }) }, token: bob },
      { body: { query: CREATE, variables: input({ subject: 's', rating: 5, title: 'T', body: 'B' }) }, token: bob },
      { body: { query: CREATE, variables: input({ subject: 's2', rating: 6, title: 'T', body: 'B' }) }, token: bob },
      // The edges Relay's @appendEdge / @prependEdge put into a connection, and a refusal with one.
      { body: { query: ADD_EDGE, variables: input({ reviewId: t.review, body: 'Edge' }) }, token: alice },
      { body: { query: ADD_EDGE, variables: input({ reviewId: t.comment, body: 'Edge' }) }, token: alice },
      {
        body: { query: CREATE_EDGE, variables: input({ subject: 'e', rating: 4, title: 'T', body: 'B' }) },
        token: bob,
      },
    ];
    for (const request of requests) {
      // Twice: the first time teaches the lane the document, if it did not know it.
      await t.send(request);
      await t.send(request);
    }
    t.sameRows();
    // The comparison is of two paths: the lane wrote most of the successful requests itself.
    expect(await t.lane.laneWrites()).toBeGreaterThanOrEqual(8);
    expect(await t.yoga.laneWrites()).toBe(0);
    const metrics = await (await t.lane.app.fetch('http://localhost/metrics')).text();
    expect(metrics).toMatch(/reviews_api_write_path_total\{path="lane"\} \d+/);
    expect(JSON.parse((await t.send(requests[0] as LaneRequest)).body).data.addComment.comment.author.name).toBe(
      'Alice "the reviewer"',
    );
  });

  it('refuses on a read-only node, and past the rate limit with the same 429 and Retry-After', async () => {
    const readOnly: NodeState = { ...standalonePrimary, whyReadOnly: () => 'this node is a standby' };
    const standby = await twins({}, readOnly);
    const alice = await tokenFor('alice');
    const add = { body: { query: ADD, variables: input({ reviewId: standby.review, body: 'No' }) }, token: alice };
    await standby.send(add);
    expect((await standby.send(add)).status).toBe(503);
    standby.sameRows();

    const limited = await twins({ rateLimit: true, rateLimitUserPerMinute: 3 });
    const request = { body: { query: ADD, variables: input({ reviewId: limited.review, body: 'Hi' }) }, token: alice };
    const statuses: number[] = [];
    for (let n = 0; n < 5; n++) statuses.push((await limited.send(request)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // A refusal inside the resolver (after the lane counted it) is not counted again by Yoga.
    const bad = { body: { query: ADD, variables: input({ reviewId: limited.review, body: ' ' }) }, token: alice };
    const other = await twins({ rateLimit: true, rateLimitUserPerMinute: 3 });
    const otherRequest = { ...request, body: { query: ADD, variables: input({ reviewId: other.review, body: 'Hi' }) } };
    await other.send(otherRequest);
    await other.send({ ...bad, body: { query: ADD, variables: input({ reviewId: other.review, body: ' ' }) } });
    expect((await other.send(otherRequest)).status).toBe(200);
    expect((await other.send(otherRequest)).status).toBe(429);
    expect(await other.lane.laneWrites()).toBeGreaterThan(0);
    limited.sameRows();
    other.sameRows();
  });
});

describe('a mutation the lane wrote', () => {
  it('reaches a live subscription as a commentAdded event', async () => {
    const t = await twins();
    const alice = await tokenFor('alice');
    const add = (body: string) => ({
      body: { query: ADD, variables: input({ reviewId: t.review, body }) },
      token: alice,
    });
    await t.lane.overHttp(add('warm-up'));
    const abort = new AbortController();
    const origin = t.lane.url.replace(/\/graphql$/, '');
    const response = await subscribe(
      origin,
      'subscription($r: ID!) { commentAdded(reviewId: $r) { body } }',
      { r: t.review },
      abort.signal,
    );
    const events = serverSentEvents(response);
    const first = events.next();
    let received = false;
    void first.then(() => {
      received = true;
    });
    // A stream listens only once the server pulls it: write until it has heard one.
    for (let attempt = 0; attempt < 20 && !received; attempt++) {
      await t.lane.overHttp(add(`live ${attempt}`));
      await new Promise((done) => setTimeout(done, 100));
    }
    const { value } = await first;
    abort.abort();
    expect(value?.data.data.commentAdded.body).toMatch(/^live \d+$/);
    expect(await t.lane.laneWrites()).toBeGreaterThan(0);
  });

  it('is answered with DURABILITY=replicated only once the node confirms it, else NOT_REPLICATED', async () => {
    const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
    const node: NodeState = {
      ...standalonePrimary,
      confirmWrites: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    };
    const db = openDatabase(':memory:');
    applyMigrations(db);
    const review = aReview(db, { authorId: 'alice' }).globalId;
    const served = await servedWithLane(db, { durability: 'replicated' }, { node });
    opened.push(served);
    const alice = await tokenFor('alice');
    const add = (body: string) => ({
      body: { query: ADD, variables: input({ reviewId: review, body }) },
      token: alice,
    });
    const confirmNext = async (how: 'resolve' | 'reject') => {
      for (let waited = 0; pending.length === 0 && waited < 10_000; waited += 10) {
        await new Promise((done) => setTimeout(done, 10));
      }
      const next = pending.shift();
      if (how === 'resolve') next?.resolve();
      else next?.reject(new Error('the replica did not confirm it within 5000 ms'));
    };
    const warm = served.overHttp(add('warm-up'));
    await confirmNext('resolve');
    await warm;

    let answered = false;
    const confirmed = served.overHttp(add('kept')).then((seen) => {
      answered = true;
      return seen;
    });
    for (let waited = 0; pending.length === 0 && waited < 10_000; waited += 10) {
      await new Promise((done) => setTimeout(done, 10));
    }
    expect(db.$client.prepare(`select count(*) as n from comments where body = 'kept'`).get()).toEqual({ n: 1 });
    expect(answered).toBe(false);
    await confirmNext('resolve');
    expect((await confirmed).status).toBe(200);

    const refused = served.overHttp(add('unconfirmed'));
    await confirmNext('reject');
    const seen = await refused;
    expect(seen.status).toBe(503);
    expect(seen.headers['retry-after']).toBe('1');
    expect(JSON.parse(seen.body)).toMatchObject({ data: null, errors: [{ extensions: { code: 'NOT_REPLICATED' } }] });
    expect(await served.laneWrites()).toBe(2);
    const metrics = await (await served.app.fetch('http://localhost/metrics')).text();
    expect(metrics).toMatch(
      /reviews_api_graphql_errors_total\{operationType="mutation",operation="Add",code="NOT_REPLICATED"\} 1/,
    );
  });
});

describe('an attacker at the mutation lane', () => {
  it('gets a clear error for the largest body the limit allows and for hostile values, and nothing is written', async () => {
    const maxBodyBytes = 64 * 1024;
    const t = await twins({ maxBodyBytes });
    const alice = await tokenFor('alice');
    await t.send({ body: { query: ADD, variables: input({ reviewId: t.review, body: 'warm-up' }) }, token: alice });
    const before = t.db.$client.prepare('select count(*) as n from comments').get();
    const envelope = JSON.stringify({ query: ADD, variables: input({ reviewId: t.review, body: '' }) });
    const largest = JSON.stringify({
      query: ADD,
      variables: input({ reviewId: t.review, body: 'y'.repeat(maxBodyBytes - Buffer.byteLength(envelope)) }),
    });
    expect(Buffer.byteLength(largest)).toBe(maxBodyBytes);
    const hostile: unknown[] = [
      largest,
      `${largest.slice(0, -2)}"}}`,
      {
        query: ADD,
        variables: JSON.parse(`{"input":{"reviewId":"${t.review}","body":"x","__proto__":{"admin":true}}}`),
      },
      { query: ADD, variables: input({ reviewId: { $gt: '' }, body: 'x' }) },
      { query: ADD, variables: input({ reviewId: t.review, body: ['x'] }) },
      { query: ADD, variables: input({ reviewId: t.review, body: 'x', idempotencyKey: 'k'.repeat(101) }) },
      { query: ADD, variables: input({ reviewId: t.review, body: 'x', idempotencyKey: 5 }) },
      { query: ADD, variables: input({ reviewId: `${t.review}'; drop table comments; --`, body: 'x' }) },
      { query: ADD, variables: 'input' },
      { query: ADD, operationName: 'Other', variables: input({ reviewId: t.review, body: 'x' }) },
    ];
    for (const body of hostile) {
      const seen = await t.send({ body, token: alice });
      // Refused as Yoga refuses it (t.send compares): an error, and never a crash.
      expect(JSON.parse(seen.body).errors, `${JSON.stringify(body).slice(0, 300)} ${seen.body}`).toBeDefined();
    }
    expect(t.db.$client.prepare('select count(*) as n from comments').get()).toEqual(before);
    t.sameRows();
  });
});
