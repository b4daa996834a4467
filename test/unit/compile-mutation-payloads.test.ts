import { describe, expect, it } from 'vitest';
import { NotCompilable } from '../../src/reads/fallback.ts';
import { compile, readDatabase, refusal, run } from '../support/compiled-reads.ts';
import { aComment, aReview } from '../support/fixtures.ts';

/**
 * A mutation's payload read back by the id its resolver wrote (src/reads/mutation-payloads.ts),
 * compiled and run without a server: the write itself is the resolver's, in the mutation lane.
 */
const db = readDatabase();
const review = aReview(db, { authorId: 'alice', title: 'Hot', createdAt: 10 });
aReview(db, { authorId: 'bob', createdAt: 20 });
const comment = aComment(db, { reviewId: review.id, authorId: 'bob', body: 'agreed' });
const addComment = { input: { reviewId: review.globalId, body: 'agreed' } };

describe("a mutation's payload", () => {
  it('names the one root field to run, under its response key, and reads the written row back', () => {
    const compiled = compile(
      'mutation($input: AddCommentInput!) { added: addComment(input: $input) { __typename comment { body author { name } } } }',
      addComment,
    );
    expect(compiled.read.write?.key).toBe('added');
    expect(compiled.read.write?.def.name).toBe('addComment');
    expect(run(db, compiled, { writtenId: comment.id })).toEqual({
      added: { __typename: 'AddCommentPayload', comment: { body: 'agreed', author: { name: 'bob' } } },
    });
  });

  it('hands back a row deleted before it was read: the NOT_FOUND is the resolver’s', () => {
    const compiled = compile(
      'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { body } } }',
      addComment,
    );
    expect(() => run(db, compiled, { writtenId: 999 })).toThrow(NotCompilable);
  });

  it('writes the edge with the cursor the connection gives the row', () => {
    const compiled = compile(
      'mutation($input: CreateReviewInput!) { createReview(input: $input) { reviewEdge { cursor node { title } } } }',
      { input: { subject: 's', rating: 3, title: 't', body: 'b' } },
    );
    const listed = run(db, compile('{ reviews { edges { cursor node { title } } } }')) as {
      reviews: { edges: { cursor: string; node: { title: string } }[] };
    };
    const edge = listed.reviews.edges.find(({ node }) => node.title === 'Hot');
    expect(run(db, compiled, { writtenId: review.id })).toEqual({ createReview: { reviewEdge: edge } });
  });

  it('is refused unless it is one root field whose payload holds only what it wrote', () => {
    const addTwice =
      'mutation($input: AddCommentInput!) { a: addComment(input: $input) { comment { body } } b: addComment(input: $input) { comment { body } } }';
    const withTypename =
      'mutation($input: AddCommentInput!) { __typename addComment(input: $input) { comment { body } } }';
    for (const text of [addTwice, withTypename]) {
      expect(refusal(text, addComment), text).toBe('a mutation of other than one root field');
    }
    const deleted = 'mutation($input: DeleteCommentInput!) { deleteComment(input: $input) { deletedId } }';
    expect(refusal(deleted, { input: { id: 'Q29tbWVudDox' } })).toBe('DeleteCommentPayload.deletedId');
  });
});
