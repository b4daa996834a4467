import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comments, reviews } from '../../src/db/schema.ts';
import { type GraphQLResponse, testConfig, tokenFor } from '../support/app.ts';
import { collidingRequest, costRefusalOf, refusalAlone } from './colliding-variables.ts';
import { type Answer, post, serveApp } from './served.ts';

/**
 * Property-based fuzzing over real HTTP against an on-disk database. Every answer must be a
 * 2xx or 4xx with an error that says something, never a 5xx; a model records each write the
 * server acknowledged, and at the end the database must pass integrity_check and hold exactly
 * the model's rows. Seeds are fast-check's (random per run; a failure prints its seed).
 */
const FUZZ_RUNS = { writes: 400, comments: 250, deletes: 120, documents: 500, wrongTypes: 300, attacks: 300 };

const USERS = ['alice', 'bob', 'mod'] as const;
type User = (typeof USERS)[number];

/** One "character" of hostile text: any code point, lone surrogates, NUL, bidi controls, emoji. */
const hostileChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
  fc.constantFrom(
    '\u0000',
    '\u202e',
    '\u200f',
    '\u061c',
    '👍🏽',
    '👨‍👩‍👧',
    'ﷺ',
    '\u00a0',
    '\ufeff',
    ' ',
    '\n',
    "'",
    '"',
    '\\',
  ),
);
const SQLISH = [
  "'; DROP TABLE reviews; --",
  "1' OR '1'='1",
  'Robert"); DELETE FROM comments; --',
  '%_%',
  'NULL',
  '0x00',
  "') UNION SELECT name FROM sqlite_master --",
];
const hostileText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: hostileChar, maxLength: 40 }) },
  // Valid but exotic: any printable grapheme (emoji sequences, RTL scripts, combining marks).
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...SQLISH) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...SQLISH), fc.string({ unit: hostileChar, maxLength: 10 }))
      .map(([a, b]) => a + b),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', 'x'.repeat(201), 'y'.repeat(10_001), '😀'.repeat(200)) },
);

/** The service's rule for text a person wrote (docs/api.md, "The rules"): what it must accept and store. */
function acceptedText(text: string, max: number): string | null {
  const trimmed = text.trim();
  const length = [...trimmed].length;
  if (length === 0 || length > max || trimmed.includes('\u0000') || !trimmed.isWellFormed()) return null;
  return trimmed;
}

interface ModelReview {
  subject: string;
  title: string;
  body: string;
  rating: number;
  authorId: User;
}
interface ModelComment {
  reviewId: number;
  body: string;
  authorId: User;
}

const model = { reviews: new Map<number, ModelReview>(), comments: new Map<number, ModelComment>() };
/** Writes the server acknowledged, by kind: the fuzz must exercise acceptance, not only refusal. */
const acknowledged = { reviews: 0, comments: 0, deletes: 0 };
let served: Awaited<ReturnType<typeof serveApp>>;
let directory: string;
let databasePath: string;
const tokens = {} as Record<User, string>;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'reviews-fuzz-'));
  databasePath = join(directory, 'fuzz.db');
  served = await serveApp({ rateLimit: false }, databasePath);
  for (const user of USERS) tokens[user] = await tokenFor(user, user === 'mod' ? { roles: ['moderator'] } : {});
});

afterAll(async () => {
  await served?.close();
  rmSync(directory, { recursive: true, force: true });
});

/** Every answer: below 500, JSON, and either data or errors that each carry a message (each of a batch's). */
function expectWellFormed(response: Answer, what: unknown) {
  expect(response.status, JSON.stringify(what)).toBeLessThan(500);
  expect(response.status, JSON.stringify(what)).toBeGreaterThanOrEqual(200);
  for (const answer of response.batch ?? [response]) expectWellFormedAnswer(answer);
}

function expectWellFormedAnswer(response: Omit<GraphQLResponse, 'status' | 'headers'>) {
  if (response.errors) {
    for (const error of response.errors)
      expect(typeof error.message === 'string' && error.message.length > 0).toBe(true);
    expect(response.errors.map((error) => error.message).join(' ')).not.toMatch(/SQLITE|sqlite_|at .*\.ts:\d+/);
  } else {
    expect(response.data).toBeTruthy();
  }
}

const CREATE_REVIEW =
  'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id subject title body rating } } }';
const ADD_COMMENT = 'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id body } } }';
const DELETE_REVIEW = 'mutation($input: DeleteReviewInput!) { deleteReview(input: $input) { deletedId } }';
const VALID_DOCUMENTS = [
  CREATE_REVIEW,
  ADD_COMMENT,
  DELETE_REVIEW,
  '{ reviews(first: 20) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }',
  'query($id: ID!) { node(id: $id) { id ... on Review { title comments { edges { cursor node { body } } } } } }',
  '{ ratingSummary(subject: "tea") { count average histogram } viewer { id } }',
];

/**
 * The attacker's documents of issue 17: a selection tree through the schema's connections and
 * relations, each connection with or without a page size (hostile ones included) or a cursor,
 * repeated under aliases (`__typename` among them), with a unique operation name; or
 * `nodes(ids:)` with up to 40,000 ids. Built from choices so every document is mostly valid.
 */
const pageArgument = fc.oneof(
  fc.constant(''),
  fc.integer({ min: -5, max: 1_000_000 }).map((first) => `(first: ${first})`),
  fc.constantFrom(100, 20, 5).map((last) => `(last: ${last})`),
  fc
    .oneof(fc.string({ maxLength: 30 }), fc.constantFrom('DC:D:abc', 'DC:N:NaN', 'DC:T:[1', 'DC:S:x'))
    .map((raw) => `(after: ${JSON.stringify(Buffer.from(raw).toString('base64'))})`),
);
const HOPS: Record<string, [string, string][]> = {
  Query: [['reviews', 'Review']],
  Review: [
    ['comments', 'Comment'],
    ['author', 'User'],
  ],
  Comment: [
    ['author', 'User'],
    ['review', 'Review'],
  ],
  User: [['reviews', 'Review']],
};
const CONNECTIONS = new Set(['reviews', 'comments']);
const LEAVES: Record<string, string[]> = {
  Review: ['id', 'body', 'title', '__typename', 'commentCount'],
  Comment: ['id', 'body', '__typename'],
  User: ['id', 'name'],
};
const selectionTree = fc
  .tuple(
    fc.array(fc.tuple(fc.nat(), pageArgument), { minLength: 1, maxLength: 7 }),
    fc.nat(),
    fc.integer({ min: 1, max: 16 }),
    fc.boolean(),
  )
  .map(([hops, leaf, aliases, typenameAlias]) => {
    let type = 'Query';
    let open = '';
    let close = '';
    for (const [choice, args] of hops) {
      const options = HOPS[type] as [string, string][];
      const [field, next] = options[choice % options.length] as [string, string];
      const connection = CONNECTIONS.has(field);
      open += connection ? `${field}${args} { nodes { ` : `${field} { `;
      close += connection ? ' } }' : ' }';
      type = next;
    }
    const leaves = LEAVES[type] as string[];
    const tree = `${open}${leaves[leaf % leaves.length]}${close}`;
    const names = Array.from({ length: aliases }, (_, i) => (typenameAlias && i === 0 ? '__typename' : `a${i}`));
    return names.map((name) => `${name}: ${tree}`).join(' ');
  });
const attackerRequest = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(selectionTree, fc.uuid())
      .map(([selection, id]) => ({ query: `query Op_${id.replaceAll('-', '_')} { ${selection} }` })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 40_000 }).map((count) => ({
      query: 'query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Review { body } } }',
      variables: { ids: Array.from({ length: count }, (_, i) => Buffer.from(`Review:${i + 1}`).toString('base64')) },
    })),
  },
  // Variable names and values built to share a memo key with an earlier request (issue 23).
  { weight: 2, arbitrary: collidingRequest },
);

const rowIdOf = (globalId: string) => Number(decodeGlobalID(globalId).id);
const someReviewId = () =>
  fc.oneof(
    fc.constant(null),
    fc.integer({ min: 1, max: 400 }),
    fc.constantFrom(...[...model.reviews.keys()].slice(-20), 1),
  );

describe('fuzzing over real HTTP', () => {
  it('writes hostile text through createReview: stored exactly when valid, refused with BAD_USER_INPUT otherwise', async () => {
    const input = fc.record({
      user: fc.constantFrom(...USERS),
      subject: fc.oneof(
        { weight: 5, arbitrary: hostileText },
        { weight: 1, arbitrary: fc.constantFrom('tea', ' tea ') },
      ),
      title: hostileText,
      body: hostileText,
      rating: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: -3, max: 9 })),
    });
    await fc.assert(
      fc.asyncProperty(input, async ({ user, ...fields }) => {
        const response = await post(
          served.url,
          { query: CREATE_REVIEW, variables: { input: fields } },
          { token: tokens[user] },
        );
        expectWellFormed(response, fields);
        const subject = acceptedText(fields.subject, 200);
        const title = acceptedText(fields.title, 200);
        const body = acceptedText(fields.body, 10_000);
        const valid = subject !== null && title !== null && body !== null && fields.rating >= 1 && fields.rating <= 5;
        const duplicate = [...model.reviews.values()].some((r) => r.authorId === user && r.subject === subject);
        if (!valid) {
          expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        } else if (duplicate) {
          expect(response.errors?.[0]?.extensions?.code).toBe('CONFLICT');
        } else {
          expect(response.errors).toBeUndefined();
          const written = response.data?.createReview.review;
          expect(written).toMatchObject({ subject, title, body, rating: fields.rating });
          model.reviews.set(rowIdOf(written.id), { subject, title, body, rating: fields.rating, authorId: user });
          acknowledged.reviews += 1;
        }
      }),
      { numRuns: FUZZ_RUNS.writes },
    );
  });

  it('adds hostile comments to real, missing and malformed review ids', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...USERS), someReviewId(), hostileText, async (user, reviewKey, text) => {
        const reviewId = reviewKey === null ? 'bm90LWFuLWlk' : encodeGlobalID('Review', reviewKey);
        const response = await post(
          served.url,
          { query: ADD_COMMENT, variables: { input: { reviewId, body: text } } },
          { token: tokens[user] },
        );
        expectWellFormed(response, { reviewId, text });
        const body = acceptedText(text, 5_000);
        if (reviewKey === null || body === null) {
          expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        } else if (!model.reviews.has(reviewKey)) {
          expect(response.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
        } else {
          expect(response.errors).toBeUndefined();
          const written = response.data?.addComment.comment;
          expect(written.body).toBe(body);
          model.comments.set(rowIdOf(written.id), { reviewId: reviewKey, body, authorId: user });
          acknowledged.comments += 1;
        }
      }),
      { numRuns: FUZZ_RUNS.comments },
    );
  });

  it('deletes reviews only as their author or a moderator, taking their comments along', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...USERS), someReviewId(), async (user, reviewKey) => {
        if (reviewKey === null) return;
        const input = { id: encodeGlobalID('Review', reviewKey) };
        const response = await post(
          served.url,
          { query: DELETE_REVIEW, variables: { input } },
          { token: tokens[user] },
        );
        expectWellFormed(response, input);
        const row = model.reviews.get(reviewKey);
        if (!row) {
          expect(response.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
        } else if (row.authorId !== user && user !== 'mod') {
          expect(response.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        } else {
          expect(response.errors).toBeUndefined();
          model.reviews.delete(reviewKey);
          acknowledged.deletes += 1;
          for (const [id, comment] of model.comments) if (comment.reviewId === reviewKey) model.comments.delete(id);
        }
      }),
      { numRuns: FUZZ_RUNS.deletes },
    );
  });

  it('answers random and mutated documents with a clear error, never a 5xx', async () => {
    const edit = fc.record({
      at: fc.nat(),
      cut: fc.nat({ max: 12 }),
      insert: fc.oneof(
        fc.string({ unit: hostileChar, maxLength: 8 }),
        fc.constantFrom('{', '}', '(', ')', '...', '@skip', '$', '!', '"', '#', '__schema', 'mutation', ':', '[', ']'),
      ),
    });
    const mutated = fc
      .tuple(fc.constantFrom(...VALID_DOCUMENTS), fc.array(edit, { minLength: 1, maxLength: 4 }))
      .map(([document, edits]) =>
        edits.reduce((text, { at, cut, insert }) => {
          const position = at % (text.length + 1);
          return text.slice(0, position) + insert + text.slice(position + cut);
        }, document),
      );
    const documents = fc.oneof(mutated, fc.string({ unit: hostileChar, maxLength: 200 }), fc.constantFrom(...SQLISH));
    const bodies = fc.oneof(
      { weight: 6, arbitrary: documents.map((query) => ({ query })) },
      // Whole bodies of the wrong shape: not an object, query not a string, junk JSON.
      { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
      {
        weight: 1,
        arbitrary: fc.record({ query: fc.jsonValue(), variables: fc.jsonValue(), operationName: fc.jsonValue() }),
      },
      { weight: 1, arbitrary: fc.string({ unit: hostileChar, maxLength: 50 }) },
    );
    await fc.assert(
      // Anonymous: a mutated document may still be a valid mutation; anonymous ones write nothing.
      fc.asyncProperty(bodies, async (body) => expectWellFormed(await post(served.url, body), body)),
      { numRuns: FUZZ_RUNS.documents },
    );
  });

  it('answers variables of the wrong types with BAD_USER_INPUT-like errors, writing nothing', async () => {
    const wrong = fc.record({
      query: fc.constantFrom(CREATE_REVIEW, ADD_COMMENT, DELETE_REVIEW, VALID_DOCUMENTS[4] as string),
      variables: fc.oneof(
        fc.dictionary(fc.constantFrom('input', 'id', 'extra'), fc.anything()),
        fc.record({
          input: fc.record(
            {
              subject: fc.anything(),
              rating: fc.oneof(fc.double(), fc.string(), fc.constant(null), fc.bigInt().map(String)),
              title: fc.anything(),
              body: fc.anything(),
              id: fc.anything(),
              reviewId: fc.anything(),
            },
            { requiredKeys: [] },
          ),
        }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(wrong, fc.constantFrom(...USERS), async (body, user) => {
        const response = await post(served.url, body, { token: tokens[user] });
        expectWellFormed(response, body);
        // Nothing here is a well-typed input: no mutation may have run.
        const data = response.data ?? {};
        for (const field of ['createReview', 'addComment', 'deleteReview']) expect(data[field] ?? null).toBeNull();
      }),
      { numRuns: FUZZ_RUNS.wrongTypes },
    );
  });

  it("answers the attacker's documents (alias trees, id lists, cursors, page sizes, names, colliding variables) with a 4xx or a bounded answer", async () => {
    const metricsUrl = `${new URL(served.url).origin}/metrics`;
    const metricsBefore = (await (await fetch(metricsUrl)).text()).length;
    await fc.assert(
      fc.asyncProperty(attackerRequest, async (body) => {
        const response = await post(served.url, body);
        expectWellFormed(response, body.query);
        // Costed on its own, whatever the requests before it carried.
        if ('operationName' in body) expect(costRefusalOf(response.errors)).toBe(refusalAlone(body));
        // Accepted or not, every answer is bounded: the limits refuse what would not be.
        expect(JSON.stringify(response).length).toBeLessThan(testConfig.maxResponseBytes);
      }),
      { numRuns: FUZZ_RUNS.attacks },
    );
    // Every request had its own operation name: the labels stayed capped.
    const metricsAfter = (await (await fetch(metricsUrl)).text()).length;
    expect(metricsAfter).toBeLessThan(metricsBefore + 200_000);
  });

  it('leaves a database that passes integrity_check and holds exactly the acknowledged writes', async () => {
    expect((await post(served.url, { query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
    const sqlite = served.db.$client;
    expect(sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(sqlite.pragma('foreign_key_check')).toEqual([]);
    const storedReviews = served.db.select().from(reviews).all();
    expect(
      new Map(
        storedReviews.map((r) => [
          r.id,
          { subject: r.subject, title: r.title, body: r.body, rating: r.rating, authorId: r.authorId },
        ]),
      ),
    ).toEqual(model.reviews);
    const storedComments = served.db.select().from(comments).all();
    expect(
      new Map(storedComments.map((c) => [c.id, { reviewId: c.reviewId, body: c.body, authorId: c.authorId }])),
    ).toEqual(model.comments);
    expect(acknowledged.reviews).toBeGreaterThan(20);
    expect(acknowledged.comments).toBeGreaterThan(5);
    expect(acknowledged.deletes).toBeGreaterThan(2);
  });
});
