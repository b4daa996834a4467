import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, tokenFor } from '../support/app.ts';
import { aComment, aReview, snapshot } from '../support/fixtures.ts';

/**
 * The authorization matrix: every actor against every mutation on rows that belong to alice,
 * then every read path checked for what it shows. A refused write leaves every table as it was
 * and every path showing the row unchanged; an allowed one shows up on every path at once.
 */
type Actor = 'anonymous' | 'author' | 'other' | 'moderator';
const ACTORS: Actor[] = ['anonymous', 'author', 'other', 'moderator'];
type Outcome = 'ok' | 'UNAUTHENTICATED' | 'FORBIDDEN';

async function tokenOf(actor: Actor): Promise<string | undefined> {
  if (actor === 'anonymous') return undefined;
  if (actor === 'author') return tokenFor('alice', { name: 'Alice' });
  if (actor === 'other') return tokenFor('bob', { name: 'Bob' });
  return tokenFor('mod', { name: 'Mo', roles: ['moderator'] });
}

interface Seeded {
  review: string;
  comment: string;
}

interface Mutation {
  document: string;
  input: (seeded: Seeded) => Record<string, unknown>;
  /** Who may: everyone signed in, only the author, or the author and a moderator. */
  allowed: Record<Actor, Outcome>;
  /** What every read path must show after an allowed run. */
  after:
    | 'created review'
    | 'added comment'
    | 'review updated'
    | 'review deleted'
    | 'comment updated'
    | 'comment deleted';
}

const signedIn: Record<Actor, Outcome> = { anonymous: 'UNAUTHENTICATED', author: 'ok', other: 'ok', moderator: 'ok' };
const authorOnly: Record<Actor, Outcome> = {
  anonymous: 'UNAUTHENTICATED',
  author: 'ok',
  other: 'FORBIDDEN',
  moderator: 'FORBIDDEN',
};
const authorOrModerator: Record<Actor, Outcome> = { ...authorOnly, moderator: 'ok' };

const MUTATIONS: Record<string, Mutation> = {
  createReview: {
    document: 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
    input: () => ({ subject: 'new-subject', rating: 2, title: 'New', body: 'A new review.' }),
    allowed: signedIn,
    after: 'created review',
  },
  addComment: {
    document: 'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }',
    input: ({ review }) => ({ reviewId: review, body: 'A new comment.' }),
    allowed: signedIn,
    after: 'added comment',
  },
  updateReview: {
    document: 'mutation($input: UpdateReviewInput!) { updateReview(input: $input) { review { id } } }',
    input: ({ review }) => ({ id: review, title: 'Changed', expectedVersion: 1 }),
    allowed: authorOnly,
    after: 'review updated',
  },
  deleteReview: {
    document: 'mutation($input: DeleteReviewInput!) { deleteReview(input: $input) { deletedId } }',
    input: ({ review }) => ({ id: review }),
    allowed: authorOrModerator,
    after: 'review deleted',
  },
  updateComment: {
    document: 'mutation($input: UpdateCommentInput!) { updateComment(input: $input) { comment { id } } }',
    input: ({ comment }) => ({ id: comment, body: 'Changed', expectedVersion: 1 }),
    allowed: authorOnly,
    after: 'comment updated',
  },
  deleteComment: {
    document: 'mutation($input: DeleteCommentInput!) { deleteComment(input: $input) { deletedId } }',
    input: ({ comment }) => ({ id: comment }),
    allowed: authorOrModerator,
    after: 'comment deleted',
  },
};

/** Every way a client reaches alice's review and comment, in one request. */
const EVERY_PATH = `query($r: ID!, $c: ID!, $u: ID!) {
  node(id: $r) { ... on Review { title version } }
  commentNode: node(id: $c) { ... on Comment { body version } }
  nodes(ids: [$r, $c]) { ... on Review { title version } ... on Comment { body version } }
  review(id: $r) { title version commentCount comments { nodes { id body version } } }
  comment(reviewId: $r, id: $c) { body version }
  reviews { totalCount nodes { id title version author { id } } }
  author: node(id: $u) { ... on User { reviews { nodes { id title version } } } }
}`;

interface View {
  review: unknown[];
  comment: unknown[];
}

// biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape; the schema is type-checked itself.
type Data = Record<string, any>;

/** What each read path shows of the review ({title, version} or null) and the comment. */
async function everyPath(t: TestApp, seeded: Seeded): Promise<View> {
  const response = await t.gql(EVERY_PATH, {
    r: seeded.review,
    c: seeded.comment,
    u: encodeGlobalID('User', 'alice'),
  });
  expect(response.errors).toBeUndefined();
  const d = response.data as Data;
  const pickReview = (row: Data | null | undefined) => (row ? { title: row.title, version: row.version } : null);
  const pickComment = (row: Data | null | undefined) => (row ? { body: row.body, version: row.version } : null);
  const inList = (list: Data[] | undefined, id: string) => list?.find((row) => row.id === id) ?? null;
  return {
    review: [
      pickReview(d.node),
      pickReview(d.nodes[0]),
      pickReview(d.review),
      pickReview(inList(d.reviews.nodes, seeded.review)),
      pickReview(inList(d.author?.reviews.nodes, seeded.review)),
    ],
    comment: [
      pickComment(d.commentNode),
      pickComment(d.nodes[1]),
      pickComment(d.comment),
      pickComment(inList(d.review?.comments.nodes, seeded.comment)),
    ],
  };
}

const everywhere = <T>(value: T, paths: number) => Array.from({ length: paths }, () => value);
const original: View = {
  review: everywhere({ title: 'Alice on tea', version: 1 }, 5),
  comment: everywhere({ body: 'Alice adds', version: 1 }, 4),
};

function expectedView(after: Mutation['after']): View {
  switch (after) {
    case 'review updated':
      return { ...original, review: everywhere({ title: 'Changed', version: 2 }, 5) };
    case 'review deleted':
      // Its comments go with it.
      return { review: everywhere(null, 5), comment: everywhere(null, 4) };
    case 'comment updated':
      return { ...original, comment: everywhere({ body: 'Changed', version: 2 }, 4) };
    case 'comment deleted':
      return { ...original, comment: everywhere(null, 4) };
    default:
      return original;
  }
}

let t: TestApp;
let seeded: Seeded;
beforeEach(() => {
  t = createTestApp();
  const review = aReview(t.db, { authorId: 'alice', subject: 'tea', title: 'Alice on tea' });
  const comment = aComment(t.db, { reviewId: review.id, authorId: 'alice', body: 'Alice adds' });
  // Someone else's rows beside alice's: no write may touch them.
  const bobs = aReview(t.db, { authorId: 'bob', subject: 'coffee' });
  aComment(t.db, { reviewId: bobs.id, authorId: 'bob' });
  seeded = { review: review.globalId, comment: comment.globalId };
});

const cells = Object.entries(MUTATIONS).flatMap(([name, mutation]) =>
  ACTORS.map((actor) => ({ name, actor, mutation, outcome: mutation.allowed[actor] })),
);

describe('the authorization matrix', () => {
  it.each(cells)('$name by $actor: $outcome', async ({ actor, mutation, outcome }) => {
    const before = snapshot(t.db);
    const response = await t.gql(mutation.document, { input: mutation.input(seeded) }, await tokenOf(actor));
    if (outcome !== 'ok') {
      expect(response.errors?.[0]?.extensions?.code).toBe(outcome);
      expect(response.data).toBeNull();
      expect(snapshot(t.db)).toEqual(before);
      expect(await everyPath(t, seeded)).toEqual(original);
      return;
    }
    expect(response.errors).toBeUndefined();
    expect(await everyPath(t, seeded)).toEqual(expectedView(mutation.after));
    const after = snapshot(t.db);
    // Bob's rows are untouched whoever acted.
    const bobsRows = (s: typeof before) => [
      s.reviews.filter((row) => row.authorId === 'bob' && row.subject === 'coffee'),
      s.comments.filter((row) => row.authorId === 'bob' && row.body !== 'A new comment.'),
    ];
    expect(bobsRows(after)).toEqual(bobsRows(before));
    if (mutation.after === 'created review' || mutation.after === 'added comment') {
      const table = mutation.after === 'created review' ? 'reviews' : 'comments';
      const added = after[table].filter((row) => !before[table].some((old) => old.id === row.id));
      const expectedAuthor = { author: 'alice', other: 'bob', moderator: 'mod' }[actor as Exclude<Actor, 'anonymous'>];
      expect(added.map((row) => row.authorId)).toEqual([expectedAuthor]);
    }
  });
});

describe('ids that point elsewhere', () => {
  it('refuse a comment id where a review id belongs, and the reverse, writing nothing', async () => {
    const alice = await tokenFor('alice');
    const before = snapshot(t.db);
    const crossed = [
      [MUTATIONS.updateReview, { id: seeded.comment, title: 'x' }],
      [MUTATIONS.deleteReview, { id: seeded.comment }],
      [MUTATIONS.updateComment, { id: seeded.review, body: 'x' }],
      [MUTATIONS.deleteComment, { id: seeded.review }],
      [MUTATIONS.addComment, { reviewId: seeded.comment, body: 'x' }],
    ] as const;
    for (const [mutation, input] of crossed) {
      const response = await t.gql(mutation?.document as string, { input }, alice);
      expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect(snapshot(t.db)).toEqual(before);
  });

  it('refuse forged ids (not base64, unknown type, non-numeric or negative keys) as bad input or not found', async () => {
    const alice = await tokenFor('alice');
    const before = snapshot(t.db);
    const forged = [
      'not-base64!',
      Buffer.from('Secret:1').toString('base64'),
      Buffer.from('Review:abc').toString('base64'),
      Buffer.from('Review:-1').toString('base64'),
      Buffer.from('Review:1 OR 1=1').toString('base64'),
      encodeGlobalID('Review', 999_999),
    ];
    for (const id of forged) {
      const response = await t.gql(MUTATIONS.deleteReview?.document as string, { input: { id } }, alice);
      expect(['BAD_USER_INPUT', 'NOT_FOUND'], id).toContain(response.errors?.[0]?.extensions?.code);
      const read = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id });
      expect(read.status, id).toBeLessThan(500);
      expect(read.data?.node ?? null, id).toBeNull();
    }
    expect(snapshot(t.db)).toEqual(before);
  });

  it('answer comment(reviewId, id) with null when the comment is on another review', async () => {
    const other = aReview(t.db, { authorId: 'bob', subject: 'cocoa' });
    const response = await t.gql('query($r: ID!, $c: ID!) { comment(reviewId: $r, id: $c) { body } }', {
      r: other.globalId,
      c: seeded.comment,
    });
    expect(response.data).toEqual({ comment: null });
  });

  it('show each signed-in user only themselves as viewer', async () => {
    for (const user of ['alice', 'bob']) {
      const response = await t.gql('{ viewer { id } }', {}, await tokenFor(user));
      expect(response.data?.viewer?.id).toBe(encodeGlobalID('User', user));
    }
    expect((await t.gql('{ viewer { id } }')).data).toEqual({ viewer: null });
  });
});
