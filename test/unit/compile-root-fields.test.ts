import { encodeGlobalID } from '@pothos/plugin-relay';
import { extendSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { NotCompilable } from '../../src/reads/fallback.ts';
import { schema } from '../../src/schema/index.ts';
import { compile, readDatabase, refusal, run } from '../support/compiled-reads.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/** The root fields of a query (src/reads/root-fields.ts, node-fields.ts), compiled and run without a server. */
const db = readDatabase();
const first = aReview(db, { subject: 'kettle', authorId: 'alice', rating: 5, title: 'first', createdAt: 1 });
aReview(db, { subject: 'kettle', authorId: 'bob', rating: 2, title: 'second', createdAt: 2 });
aReview(db, { subject: 'grinder', authorId: 'alice', rating: 4, title: 'third', createdAt: 3 });
const comment = aComment(db, { reviewId: first.id, authorId: 'bob', body: 'agreed', createdAt: 4 });
const commentId = encodeGlobalID('Comment', comment.id);
const alice = encodeGlobalID('User', 'alice');

describe('a listing (a rows spec with an order)', () => {
  it('is one statement whose one column is the answer, its arguments read at each run', () => {
    const compiled = compile('{ __typename reviews(subject: "kettle") { totalCount nodes { title } } }');
    expect(compiled.read.sql).toMatch(/^select cast\(json_object\('__typename', 'Query', 'reviews', .* as blob\)$/s);
    expect(compiled.read.argumentFields.map(({ def }) => def.name)).toEqual(['reviews']);
    expect(run(db, compiled)).toEqual({
      __typename: 'Query',
      reviews: { totalCount: 2, nodes: [{ title: 'second' }, { title: 'first' }] },
    });
  });

  it('binds a filter per run, decoded as its resolver decodes it; a value it would refuse is handed back', () => {
    const compiled = compile('query($a: ID) { reviews(authorId: $a) { nodes { title } } }', { a: alice });
    expect(run(db, compiled)).toEqual({ reviews: { nodes: [{ title: 'third' }, { title: 'first' }] } });
    // The same plan serves another author: the statement does not change with the value.
    const bob = { ...compiled, variables: { a: encodeGlobalID('User', 'bob') } };
    expect(run(db, bob)).toEqual({ reviews: { nodes: [{ title: 'second' }] } });
    for (const a of ['not-an-id', first.globalId]) {
      expect(() => run(db, { ...compiled, variables: { a } }), a).toThrow(NotCompilable);
    }
  });

  it('leaves out a filter whose argument is null, so the shape of the variables decides the statement', () => {
    const text = 'query($s: String) { reviews(subject: $s) { nodes { title } } }';
    const unfiltered = compile(text, { s: null });
    const filtered = compile(text, { s: 'grinder' });
    expect(filtered.read.checks.length).toBe(unfiltered.read.checks.length + 1);
    expect(run(db, unfiltered)).toEqual({
      reviews: { nodes: [{ title: 'third' }, { title: 'second' }, { title: 'first' }] },
    });
    expect(run(db, filtered)).toEqual({ reviews: { nodes: [{ title: 'third' }] } });
  });

  it("hands back every request with an argument plugin-validation checks: its rules are the resolver's", () => {
    const compiled = compile('{ reviews(minRating: 4) { nodes { title } } }');
    expect(() => run(db, compiled)).toThrow(NotCompilable);
  });
});

describe('one row (a rows spec without an order)', () => {
  it('is the row, or null when there is none', () => {
    const compiled = compile('query($id: ID!) { review(id: $id) { title } }', { id: first.globalId });
    expect(run(db, compiled)).toEqual({ review: { title: 'first' } });
    expect(run(db, { ...compiled, variables: { id: encodeGlobalID('Review', 999) } })).toEqual({ review: null });
  });

  it('hands back an id of a type the argument does not take', () => {
    const compiled = compile('query($id: ID!) { review(id: $id) { title } }', { id: commentId });
    expect(() => run(db, compiled)).toThrow(NotCompilable);
  });

  it("is the viewer's own row, and null for no viewer", () => {
    const compiled = compile('{ viewer { name } }');
    expect(run(db, compiled)).toEqual({ viewer: null });
    expect(run(db, compiled, { viewerId: 'alice' })).toEqual({ viewer: { name: 'alice' } });
  });

  it('hands back a field whose row must exist when it does not (the NOT_FOUND is the resolver’s)', () => {
    const compiled = compile('query($r: ID!) { reviewComments(reviewId: $r) { nodes { body } } }', {
      r: first.globalId,
    });
    expect(run(db, compiled)).toEqual({ reviewComments: { nodes: [{ body: 'agreed' }] } });
    expect(() => run(db, { ...compiled, variables: { r: encodeGlobalID('Review', 999) } })).toThrow(NotCompilable);
  });
});

describe('node and nodes', () => {
  it('read each id from the table of the type it names, with the fragments of that type', () => {
    const compiled = compile(
      'query($id: ID!) { node(id: $id) { __typename id ... on Review { title } ... on Comment { body } } }',
      { id: commentId },
    );
    expect(run(db, compiled)).toEqual({ node: { __typename: 'Comment', id: commentId, body: 'agreed' } });
    expect(run(db, { ...compiled, variables: { id: first.globalId } })).toEqual({
      node: { __typename: 'Review', id: first.globalId, title: 'first' },
    });
    const ids = [first.globalId, encodeGlobalID('Comment', 999), alice];
    expect(run(db, compile('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids }))).toEqual({
      nodes: [{ id: first.globalId }, null, { id: alice }],
    });
  });

  it('hand back an id that names no Node type, or a key its table cannot hold', () => {
    const compiled = compile('query($id: ID!) { node(id: $id) { id } }', { id: first.globalId });
    for (const id of [encodeGlobalID('Query', 1), encodeGlobalID('Review', '007'), 'not-an-id']) {
      expect(() => run(db, { ...compiled, variables: { id } }), id).toThrow(NotCompilable);
    }
  });
});

describe('an aggregate', () => {
  it("is one row of its spec's SQL, each exposed field a column of it", () => {
    const compiled = compile('{ ratingSummary(subject: "kettle") { __typename subject count average histogram } }');
    expect(run(db, compiled)).toEqual({
      ratingSummary: {
        __typename: 'RatingSummary',
        subject: 'kettle',
        count: 2,
        average: 3.5,
        histogram: [0, 1, 0, 0, 1],
      },
    });
  });
});

describe('what the compiler leaves to Yoga', () => {
  it('refuses introspection, a root field without a read spec, @defer and @stream, and any subscription', () => {
    const later = extendSchema(schema, parse('extend type Query { later: String }'));
    expect(refusal('{ __schema { queryType { name } } }')).toBe('no field __schema');
    expect(refusal('{ later }', {}, later)).toBe('Query.later has no read spec');
    expect(refusal('{ reviews { nodes { id ... @defer { title } } } }')).toBe('@defer or @stream');
    expect(refusal('{ reviews { edges @stream(initialCount: 1) { cursor } } }')).toBe('@defer or @stream');
    expect(refusal('subscription { commentAdded(reviewId: "UmV2aWV3OjE=") { id } }')).toBe('not a query');
  });
});
