import { encodeGlobalID } from '@pothos/plugin-relay';
import { extendSchema, type GraphQLObjectType, type GraphQLSchema, type OperationDefinitionNode, parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { standalonePrimary } from '../../src/context.ts';
import type { Db } from '../../src/db/client.ts';
import { createReviewEvents } from '../../src/pubsub.ts';
import { compileOperation } from '../../src/reads/compile.ts';
import { Unsupported } from '../../src/reads/fallback.ts';
import { useFastReads } from '../../src/reads/plugin.ts';
import { schema } from '../../src/schema/index.ts';
import { createTestApp, tokenFor } from '../support/app.ts';
import { aComment, aReview } from '../support/fixtures.ts';
import { servedWithLane } from './lane.ts';

function seeded() {
  const t = createTestApp();
  const reviews = ['alice', 'bob', 'carol'].map((authorId, n) =>
    aReview(t.db, { subject: 'kettle', authorId, createdAt: n }),
  );
  const review = reviews[0] as (typeof reviews)[number];
  const comment = aComment(t.db, { reviewId: review.id, createdAt: 1 });
  aComment(t.db, { reviewId: review.id, createdAt: 1 });
  return { ...t, review, commentId: encodeGlobalID('Comment', comment.id) };
}

/** The read scenarios of the bench and the issue, each with its variables. */
function scenarios(reviewId: string, commentId: string): [string, string, Record<string, unknown>][] {
  return [
    [
      'page',
      '{ reviews(first: 20) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }',
      {},
    ],
    [
      'review',
      'query($id: ID!) { review(id: $id) { id subject rating title body createdAt author { name } commentCount } }',
      { id: reviewId },
    ],
    ['ratingSummary', '{ ratingSummary(subject: "kettle") { subject count average histogram } }', {}],
    [
      'comment',
      'query($r: ID!, $c: ID!) { comment(reviewId: $r, id: $c) { body author { name } createdAt } }',
      { r: reviewId, c: commentId },
    ],
    [
      'node with fragments',
      'query($id: ID!) { node(id: $id) { id ...R ... on Comment { body } } } fragment R on Review { title author { name } }',
      { id: reviewId },
    ],
    ['nodes', 'query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }', { ids: [reviewId, commentId] }],
    [
      'reviewComments',
      'query($r: ID!) { reviewComments(reviewId: $r, last: 1) { totalCount edges { cursor node { body } } pageInfo { hasPreviousPage startCursor } } }',
      { r: reviewId },
    ],
    ['viewer', '{ viewer { name reviews(first: 2) { totalCount nodes { title } } } }', {}],
  ];
}

describe('FAST_READS=on', () => {
  it('answers every read scenario with one SQL statement', async () => {
    const t = seeded();
    const token = await tokenFor('alice', { name: 'Alice' });
    for (const [name, query, variables] of scenarios(t.review.globalId, t.commentId)) {
      t.statements.length = 0;
      const response = await t.gql(query, variables, token);
      expect(response.errors, name).toBeUndefined();
      expect(t.statements, name).toHaveLength(1);
    }
    const metrics = await (await t.app.fetch('http://localhost/metrics')).text();
    expect(metrics).toMatch(/reviews_api_read_path_total\{path="compiled"\} 8/);
  });

  it('sends a mutation and a document with an error down the ordinary path, and counts them apart', async () => {
    const t = seeded();
    const token = await tokenFor('alice', { name: 'Alice' });
    const added = await t.gql(
      'mutation($r: ID!) { addComment(input: { reviewId: $r, body: "hi" }) { comment { body } } }',
      { r: t.review.globalId },
      token,
    );
    expect(added.data?.addComment.comment.body).toBe('hi');
    const malformed = await t.gql('{ review(id: "not-an-id") { title } }');
    expect(malformed.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const missing = await t.gql('query($r: ID!) { reviewComments(reviewId: $r) { totalCount nodes { body } } }', {
      r: encodeGlobalID('Review', 999),
    });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const metrics = await (await t.app.fetch('http://localhost/metrics')).text();
    expect(metrics).toMatch(/reviews_api_read_path_total\{path="ordinary"\} 2/);
    expect(metrics).toMatch(/reviews_api_write_path_total\{path="ordinary"\} 1/);
  });
});

/** The app's schema with one field more that has its own resolver, as a field added later would. */
function schemaWithAddedField(): GraphQLSchema {
  const extended = extendSchema(schema, parse('extend type Review { addedLater: String }'));
  const field = (extended.getType('Review') as GraphQLObjectType).getFields().addedLater;
  if (field) field.resolve = () => 'from its resolver';
  return extended;
}

function yogaWith(db: Db, testSchema: GraphQLSchema, plugin: ReturnType<typeof useFastReads>) {
  return createYoga({
    schema: testSchema,
    plugins: [plugin],
    context: () => ({
      db,
      auth: { kind: 'anonymous' },
      viewer: null,
      node: standalonePrimary,
      events: createReviewEvents(),
    }),
  });
}

async function post(yoga: ReturnType<typeof yogaWith>, query: string) {
  const response = await yoga.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
}

describe('the compiler', () => {
  it('leaves a document with a field it does not know to the ordinary path, and compiles the rest', async () => {
    const t = seeded();
    const plugin = useFastReads({ db: t.db });
    const yoga = yogaWith(t.db, schemaWithAddedField(), plugin);
    const added = await post(yoga, '{ reviews(first: 1, orderBy: OLDEST) { nodes { title addedLater } } }');
    expect(added).toEqual({
      data: { reviews: { nodes: [{ title: t.review.title, addedLater: 'from its resolver' }] } },
    });
    await post(yoga, '{ reviews(first: 1) { nodes { title } } }');
    const plans = [...plugin.plans.values()];
    expect(plans).toHaveLength(2);
    expect(plans.filter((plan) => plan === null)).toHaveLength(1);
  });

  it('keeps its plan cache bounded by count and by bytes under a flood of distinct documents', async () => {
    const t = seeded();
    const byCount = useFastReads({ db: t.db, maxPlans: 20 });
    const byBytes = useFastReads({ db: t.db, maxPlanBytes: 64 * 1024 });
    for (const plugin of [byCount, byBytes]) {
      const yoga = yogaWith(t.db, schema, plugin);
      for (let n = 0; n < 300; n++) {
        const answer = await post(yoga, `{ a${n}: reviews(first: ${n % 50}) { nodes { title } } }`);
        expect(answer.errors).toBeUndefined();
      }
    }
    expect(byCount.plans.size).toBe(20);
    expect(byBytes.plans.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(byBytes.plans.size).toBeGreaterThan(1);
    expect(byBytes.plans.size).toBeLessThan(300);
  });
});

describe('a document with @defer or @stream', () => {
  it('is left to ordinary execution, which answers it in parts; the lane never takes it', async () => {
    const t = seeded();
    const lane = await servedWithLane(t.db);
    try {
      for (const query of [
        '{ reviews(first: 2) { nodes { id ... @defer { title } } } }',
        '{ reviews(first: 2) { edges @stream(initialCount: 1) { node { id } } } }',
      ]) {
        for (let n = 0; n < 2; n++) {
          const seen = await lane.overHttp({ body: { query }, headers: { accept: 'multipart/mixed' } });
          expect(seen.headers['content-type']).toMatch(/^multipart\/mixed/);
          expect(seen.body).toContain('"hasNext":false');
        }
        // The compiler refuses it outright: its one statement is one answer.
        const parsed = parse(query);
        const operation = parsed.definitions[0] as OperationDefinitionNode;
        expect(() => compileOperation(schema, {}, operation, {})).toThrow(Unsupported);
      }
      expect(await lane.laneAnswers()).toBe(0);
    } finally {
      await lane.close();
    }
  });
});
