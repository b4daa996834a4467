import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { NotCompilable } from '../../src/reads/fallback.ts';
import { readCursor } from '../../src/schema/cursors.ts';
import { compile, readDatabase, refusal, run } from '../support/compiled-reads.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/** Connections as plugin-drizzle pages them (src/reads/connections.ts), compiled and run without a server. */
const db = readDatabase();
// 105 reviews, two to each instant: every page boundary falls inside a tie of createdAt.
const reviews = Array.from({ length: 105 }, (_, n) =>
  aReview(db, { authorId: 'alice', rating: (n % 5) + 1, title: `r${n}`, createdAt: Math.floor(n / 2) }),
);
const newestFirst = reviews.map((review) => review.title).reverse();
aComment(db, { reviewId: (reviews[0] as (typeof reviews)[number]).id, body: 'one', createdAt: 5 });
aComment(db, { reviewId: (reviews[0] as (typeof reviews)[number]).id, body: 'two', createdAt: 5 });

type Page = { nodes: { title: string }[]; pageInfo: Record<string, unknown>; edges?: { cursor: string }[] };
const page = (answer: Record<string, unknown>) => answer.reviews as Page;
const titles = (answer: Record<string, unknown>) => page(answer).nodes.map((node) => node.title);
const PAGE = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { title }';

describe('a page', () => {
  it('is 20 rows by default and at most 100, whatever is asked', () => {
    const compiled = compile(`query($n: Int) { reviews(first: $n) { ${PAGE} } }`, { n: 150 });
    expect(titles(run(db, compiled))).toEqual(newestFirst.slice(0, 100));
    expect(titles(run(db, compile(`{ reviews { ${PAGE} } }`)))).toEqual(newestFirst.slice(0, 20));
  });

  it('hands back a negative size, and refuses first with last', () => {
    const compiled = compile('query($n: Int) { reviews(first: $n) { nodes { title } } }', { n: 2 });
    expect(() => run(db, { ...compiled, variables: { n: -1 } })).toThrow(NotCompilable);
    expect(refusal('{ reviews(first: 1, last: 1) { nodes { title } } }')).toBe('first and last together');
  });

  it('goes on after its end cursor through tied rows, by one row-value comparison on the order', () => {
    const one = run(db, compile(`{ reviews(first: 3) { ${PAGE} } }`));
    expect(page(one).pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const endCursor = page(one).pageInfo.endCursor as string;
    expect(readCursor(endCursor)?.scope).toBe('Review(createdAt desc, id desc)');
    const next = compile(`query($after: String) { reviews(first: 3, after: $after) { ${PAGE} } }`, {
      after: endCursor,
    });
    expect(next.read.sql).toMatch(/\("t\d+"\."created_at", "t\d+"\."id"\) < \(\?, \?\)/);
    const two = run(db, next);
    expect(titles(two)).toEqual(newestFirst.slice(3, 6));
    expect(page(two).pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it('pages backward with last and before, in the output order', () => {
    const last = run(db, compile(`{ reviews(last: 2) { ${PAGE} } }`));
    expect(titles(last)).toEqual(newestFirst.slice(-2));
    expect(page(last).pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const before = compile(`query($b: String) { reviews(last: 2, before: $b) { ${PAGE} } }`, {
      b: page(last).pageInfo.startCursor,
    });
    const earlier = run(db, before);
    expect(titles(earlier)).toEqual(newestFirst.slice(-4, -2));
    expect(page(earlier).pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it('hands back a cursor of another order or connection, and one it never wrote', () => {
    const oldest = run(db, compile('{ reviews(first: 1, orderBy: OLDEST) { edges { cursor } } }'));
    const comments = run(
      db,
      compile('query($id: ID!) { review(id: $id) { comments(first: 1) { edges { cursor } } } }', {
        id: (reviews[0] as (typeof reviews)[number]).globalId,
      }),
    ) as { review: { comments: { edges: { cursor: string }[] } } };
    const compiled = compile('query($a: String) { reviews(first: 2, after: $a) { nodes { title } } }', { a: 'x' });
    for (const a of [
      page(oldest).edges?.[0]?.cursor,
      comments.review.comments.edges[0]?.cursor,
      'garbage',
      encodeGlobalID('Review', 1),
    ]) {
      expect(() => run(db, { ...compiled, variables: { a } }), a).toThrow(NotCompilable);
    }
  });

  it('counts every row the filter keeps, whatever the page', () => {
    const answer = run(db, compile('{ reviews(first: 1, subject: "nothing") { totalCount nodes { title } } }'));
    expect(answer).toEqual({ reviews: { totalCount: 0, nodes: [] } });
    expect(run(db, compile('{ reviews(first: 0) { totalCount } }'))).toEqual({ reviews: { totalCount: 105 } });
  });
});

describe('a related connection', () => {
  it("pages the parent row's related rows in its own order", () => {
    const compiled = compile(
      'query($id: ID!) { review(id: $id) { comments(first: 1) { totalCount pageInfo { hasNextPage } nodes { body } } } }',
      { id: (reviews[0] as (typeof reviews)[number]).globalId },
    );
    expect(run(db, compiled)).toEqual({
      review: { comments: { totalCount: 2, pageInfo: { hasNextPage: true }, nodes: [{ body: 'one' }] } },
    });
  });
});
