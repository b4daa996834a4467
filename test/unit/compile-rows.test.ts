import { extendSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { NotCompilable } from '../../src/reads/fallback.ts';
import { schema } from '../../src/schema/index.ts';
import { compile, readDatabase, refusal, run } from '../support/compiled-reads.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/** Rows as the objects their selections ask for (src/reads/rows.ts, scalars.ts), compiled and run without a server. */
const db = readDatabase();
const review = aReview(db, {
  subject: 'kettle',
  authorId: 'alice',
  rating: 4,
  title: 'Hot',
  createdAt: 1_700_000_000_123,
});
aComment(db, { reviewId: review.id, authorId: 'bob', body: 'agreed', createdAt: 1 });
aComment(db, { reviewId: review.id, authorId: 'carol', body: 'not I', createdAt: 2 });

const reviewQuery = (selection: string) =>
  compile(`query($id: ID!) { review(id: $id) { ${selection} } }`, { id: review.globalId });

describe('a row', () => {
  it('writes exposed columns as JavaScript would, its global id and __typename', () => {
    expect(run(db, reviewQuery('__typename id subject rating title createdAt version'))).toEqual({
      review: {
        __typename: 'Review',
        id: review.globalId,
        subject: 'kettle',
        rating: 4,
        title: 'Hot',
        createdAt: '2023-11-14T22:13:20.123Z',
        version: 1,
      },
    });
  });

  it('writes an instant outside the years strftime writes by Date#toISOString', () => {
    const far = aReview(db, { authorId: 'alice', createdAt: 253_402_300_800_000 });
    const before = aReview(db, { authorId: 'alice', createdAt: -1 });
    const compiled = compile('query($id: ID!) { review(id: $id) { createdAt } }', { id: far.globalId });
    expect(compiled.read.sql).toContain('strftime');
    expect(run(db, compiled)).toEqual({ review: { createdAt: '+010000-01-01T00:00:00.000Z' } });
    expect(run(db, { ...compiled, variables: { id: before.globalId } })).toEqual({
      review: { createdAt: '1969-12-31T23:59:59.999Z' },
    });
  });

  it('reads a one-relation and an SQL extra in the same statement', () => {
    expect(run(db, reviewQuery('author { name } commentCount'))).toEqual({
      review: { author: { name: 'alice' }, commentCount: 2 },
    });
  });

  it('hands back an Int column beyond 32 bits: that error is the ordinary path’s', () => {
    const big = aReview(db, { authorId: 'alice' });
    db.$client.prepare('update reviews set version = ? where id = ?').run(2 ** 40, big.id);
    const compiled = compile('query($id: ID!) { review(id: $id) { version } }', { id: big.globalId });
    expect(() => run(db, compiled)).toThrow(NotCompilable);
  });

  it('refuses a field that is neither a column, an extra nor a relation: its resolver answers it', () => {
    const later = extendSchema(schema, parse('extend type Review { later: String }'));
    expect(refusal('query($id: ID!) { review(id: $id) { title later } }', { id: review.globalId }, later)).toBe(
      'Review.later is not a plain relation',
    );
  });
});
