import { eq } from 'drizzle-orm';
import { comments, reviews } from '../db/schema.ts';
import { orNotFound } from '../errors.ts';
import { addComment, deleteComment, updateComment } from '../services/comments.ts';
import { runWrite } from '../services/write.ts';
import { builder } from './builder.ts';
import { sharedConnection } from './connections.ts';
import { cacheTouches, restRoute } from './extensions.ts';
import { rowId } from './ids.ts';
import { deletedPayload, writtenEdge } from './payloads.ts';
import { type RowsSpec, readSpec, relationalWhere } from './read-spec.ts';
import { Review } from './review.ts';
import {
  EXPECTED_VERSION_DESCRIPTION,
  IDEMPOTENCY_KEY_DESCRIPTION,
  idempotencyKey,
  userText,
  version,
  WRITTEN_ROW,
} from './validation.ts';

export const Comment = builder.drizzleNode('comments', {
  name: 'Comment',
  description: "A user's comment on a review.",
  // Load only the columns the query selects (plus ids and cursor columns), not every column.
  select: {},
  id: { column: (comment) => comment.id },
  fields: (t) => ({
    review: t.relation('review', { description: 'The review it is on.' }),
    body: t.exposeString('body', { description: 'The text, 1 to 5,000 characters, trimmed.' }),
    author: t.relation('author', { description: 'Who wrote it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: WRITTEN_ROW.createdAt }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: WRITTEN_ROW.updatedAt }),
    version: t.exposeInt('version', { description: WRITTEN_ROW.version }),
  }),
});

const { connection: CommentConnection, edge: CommentEdge } = sharedConnection(Comment, 'Comment');

/** Conversation order: oldest first, the primary key breaking ties. */
const conversationOrder = { createdAt: 'asc', id: 'asc' } as const;

const onReview: RowsSpec = {
  kind: 'rows',
  table: 'comments',
  filters: { id: { column: 'id', decode: rowId }, reviewId: { column: 'reviewId', decode: rowId } },
};

const ofReview: RowsSpec = {
  kind: 'rows',
  table: 'comments',
  filters: { reviewId: { column: 'reviewId', decode: rowId } },
  order: () => conversationOrder,
  mustExist: { arg: 'reviewId', table: 'reviews', column: 'id' },
};

builder.drizzleObjectField('reviews', 'comments', (t) =>
  t.relatedConnection(
    'comments',
    {
      description: 'Comments in conversation order, oldest first.',
      query: { orderBy: conversationOrder },
      totalCount: true,
      extensions: readSpec({ kind: 'relatedConnection', relation: 'comments', order: conversationOrder }),
    },
    CommentConnection,
  ),
);

builder.queryField('comment', (t) =>
  t.drizzleField({
    type: 'comments',
    nullable: true,
    description: 'One comment of one review (REST: /reviews/:reviewId/comments/:id); null if it is not on that review.',
    args: {
      reviewId: t.arg.globalID({ for: Review, required: true, description: "The review's global id." }),
      id: t.arg.globalID({ for: Comment, required: true, description: "The comment's global id." }),
    },
    extensions: {
      ...readSpec(onReview),
      ...restRoute({
        method: 'GET',
        path: '/reviews/:reviewId/comments/:id',
        tags: ['comments'],
        summary: 'Get a comment of a review',
      }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.comments.findFirst(query({ where: relationalWhere(onReview.filters, args) })),
  }),
);

builder.queryField('reviewComments', (t) =>
  t.drizzleConnection(
    {
      type: 'comments',
      description:
        'The comments of one review in conversation order (REST: /reviews/:reviewId/comments); NOT_FOUND if there is no such review.',
      args: { reviewId: t.arg.globalID({ for: Review, required: true, description: "The review's global id." }) },
      extensions: {
        ...readSpec(ofReview),
        ...restRoute({
          method: 'GET',
          path: '/reviews/:reviewId/comments',
          tags: ['comments'],
          summary: "List a review's comments",
        }),
      },
      totalCount: (_root, args, ctx) => ctx.db.$count(comments, eq(comments.reviewId, rowId(args.reviewId))),
      resolve: (query, _root, args, ctx) => {
        const reviewId = rowId(args.reviewId);
        orNotFound(ctx.db.select({ id: reviews.id }).from(reviews).where(eq(reviews.id, reviewId)).get(), 'Review');
        return ctx.db.query.comments.findMany(query({ where: { reviewId }, orderBy: conversationOrder }));
      },
    },
    CommentConnection,
  ),
);

const AddCommentInput = builder.inputType('AddCommentInput', {
  description: 'A new comment on a review.',
  fields: (t) => ({
    reviewId: t.globalID({ for: Review, required: true, description: "The review's global id." }),
    body: t.string({ required: true, description: '1 to 5,000 characters.' }).validate(userText(5_000)),
    idempotencyKey: t.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }).validate(idempotencyKey.nullish()),
  }),
});

const UpdateCommentInput = builder.inputType('UpdateCommentInput', {
  description: 'A new text for your own comment.',
  fields: (t) => ({
    id: t.globalID({ for: Comment, required: true, description: "The comment's global id." }),
    body: t.string({ required: true, description: 'The new text, 1 to 5,000 characters.' }).validate(userText(5_000)),
    expectedVersion: t.int({ description: EXPECTED_VERSION_DESCRIPTION }).validate(version.nullish()),
  }),
});

const DeleteCommentInput = builder.inputType('DeleteCommentInput', {
  description: 'The comment to delete (your own, or any as a moderator).',
  fields: (t) => ({
    id: t.globalID({ for: Comment, required: true, description: "The comment's global id." }),
    expectedVersion: t.int({ description: EXPECTED_VERSION_DESCRIPTION }).validate(version.nullish()),
  }),
});

/** A payload holding the written comment, re-read through the client's planned selection. */
function commentPayload(name: string, description: string) {
  return builder.objectRef<{ rowId: number }>(name).implement({
    description,
    fields: (t) => ({
      comment: t.drizzleField({
        type: 'comments',
        description: 'The comment as it is now, `version` included.',
        // The fast lane reads it back by the same id, in one statement (src/reads/mutation-payloads.ts).
        extensions: readSpec({ kind: 'written', table: 'comments' }),
        resolve: async (query, parent, _args, ctx) =>
          orNotFound(await ctx.db.query.comments.findFirst(query({ where: { id: parent.rowId } })), 'Comment'),
      }),
    }),
  });
}

const AddCommentPayload = commentPayload('AddCommentPayload', 'What `addComment` wrote.');

builder.objectField(AddCommentPayload, 'commentEdge', (t) =>
  t.field({
    type: CommentEdge,
    nullable: true,
    description:
      "The new comment as an edge of its review's `comments` (conversation order), cursor included: for Relay's `@appendEdge`.",
    extensions: readSpec({ kind: 'writtenEdge', table: 'comments', order: conversationOrder }),
    resolve: async (parent, _args, ctx) =>
      writtenEdge(
        'Comment',
        conversationOrder,
        orNotFound(await ctx.db.query.comments.findFirst({ where: { id: parent.rowId } }), 'Comment'),
      ),
  }),
);
const UpdateCommentPayload = commentPayload('UpdateCommentPayload', 'What `updateComment` wrote.');
const DeleteCommentPayload = deletedPayload('DeleteCommentPayload', 'Comment');

builder.mutationFields((t) => ({
  addComment: t.field({
    type: AddCommentPayload,
    description:
      'Adds a comment to a review as the signed-in user; subscribers of `commentAdded` hear of it. NOT_FOUND if the review does not exist. REST: POST /api/reviews/:reviewId/comments.',
    extensions: {
      ...restRoute({
        method: 'POST',
        path: '/reviews/:reviewId/comments',
        tags: ['comments'],
        responseStatus: 201,
        summary: 'Add a comment to a review',
      }),
      // A review's commentCount and comments change with it.
      ...cacheTouches('Comment', 'Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: AddCommentInput, required: true, description: 'The new comment.' }) },
    resolve: (_root, { input }, ctx) => {
      const reviewId = rowId(input.reviewId);
      const commentId = runWrite(ctx, (db, viewer, now) => addComment(db, viewer, now, { ...input, reviewId }));
      ctx.events.publish('commentAdded', reviewId, { commentId });
      return { rowId: commentId };
    },
  }),
  updateComment: t.field({
    type: UpdateCommentPayload,
    description:
      "Changes your own comment's text and raises its `version`. FORBIDDEN for another's comment, NOT_FOUND for none, CONFLICT for a stale `expectedVersion`. REST: PATCH /api/comments/:id.",
    extensions: {
      ...restRoute({ method: 'PATCH', path: '/comments/:id', tags: ['comments'], summary: 'Edit a comment' }),
      ...cacheTouches('Comment', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: UpdateCommentInput, required: true, description: 'The comment and its new text.' }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer, now) => updateComment(db, viewer, now, { ...input, id: rowId(input.id) })),
    }),
  }),
  deleteComment: t.field({
    type: DeleteCommentPayload,
    description:
      'Deletes a comment: your own, or any as a moderator. FORBIDDEN otherwise, NOT_FOUND for none, CONFLICT for a stale `expectedVersion`. REST: DELETE /api/comments/:id.',
    extensions: {
      ...restRoute({ method: 'DELETE', path: '/comments/:id', tags: ['comments'], summary: 'Delete a comment' }),
      // A review's commentCount and comments change with it.
      ...cacheTouches('Comment', 'Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: DeleteCommentInput, required: true, description: 'The comment to delete.' }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer) => deleteComment(db, viewer, { ...input, id: rowId(input.id) })),
    }),
  }),
}));
