import { type SQLWrapper, sql } from 'drizzle-orm';
import { stableSql } from '../db/relational-query-cache.ts';
import { comments, reviews } from '../db/schema.ts';
import { orNotFound } from '../errors.ts';
import { createReview, deleteReview, updateReview } from '../services/reviews.ts';
import { runWrite } from '../services/write.ts';
import { builder } from './builder.ts';
import { sharedConnection } from './connections.ts';
import { cacheTouches, restRoute } from './extensions.ts';
import { rowId, userId } from './ids.ts';
import { deletedPayload, writtenEdge } from './payloads.ts';
import { boundWhere, type RowsSpec, readSpec, relationalWhere } from './read-spec.ts';
import {
  EXPECTED_VERSION_DESCRIPTION,
  IDEMPOTENCY_KEY_DESCRIPTION,
  idempotencyKey,
  rating,
  userText,
  version,
  WRITTEN_ROW,
} from './validation.ts';

/**
 * A review's comments, counted in the query that loads the review. Written out rather than
 * `t.relatedCount`, which makes its SQL anew per request: one function lets the query be built once.
 */
const commentCount = stableSql(
  (review: typeof reviews) => sql<number>`(select count(*) from ${comments} where ${comments.reviewId} = ${review.id})`,
);

export const Review = builder.drizzleNode('reviews', {
  name: 'Review',
  description: "A user's review of a subject: a rating, a title and a body, with its comments.",
  // Load only the columns the query selects (plus ids and cursor columns), not every column.
  select: {},
  id: { column: (review) => review.id },
  fields: (t) => ({
    subject: t.exposeString('subject', {
      description: 'What is reviewed: a free-form key (a product slug, say), 1 to 200 characters.',
    }),
    rating: t.exposeInt('rating', { description: 'Stars, 1 to 5.' }),
    title: t.exposeString('title', { description: '1 to 200 characters, trimmed.' }),
    body: t.exposeString('body', { description: 'The text, 1 to 10,000 characters, trimmed.' }),
    author: t.relation('author', { description: 'Who wrote it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: WRITTEN_ROW.createdAt }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: WRITTEN_ROW.updatedAt }),
    version: t.exposeInt('version', { description: WRITTEN_ROW.version }),
    commentCount: t.int({
      description: 'How many comments it has (the same as `comments.totalCount`).',
      select: { extras: { commentCount } },
      extensions: readSpec({ kind: 'extra', sql: commentCount }),
      resolve: (review) => review.commentCount,
    }),
  }),
});

const reviewConnection = sharedConnection(Review, 'Review');
export const ReviewConnection = reviewConnection.connection;

export const ReviewOrder = builder.enumType('ReviewOrder', {
  description: 'The order of `reviews`. Ties are broken by id, so pages never skip or repeat a review.',
  values: {
    NEWEST: { description: 'Most recent first (the default).' },
    OLDEST: { description: 'Oldest first.' },
    RATING_HIGH: { description: 'Highest rating first; newest first among equals.' },
    RATING_LOW: { description: 'Lowest rating first; oldest first among equals.' },
  } as const,
});

/** Each order ends in the primary key, so cursors never skip or repeat tied rows. */
const orderings = {
  NEWEST: { createdAt: 'desc', id: 'desc' },
  OLDEST: { createdAt: 'asc', id: 'asc' },
  RATING_HIGH: { rating: 'desc', id: 'desc' },
  RATING_LOW: { rating: 'asc', id: 'asc' },
} as const;

/** The listing: filters and order, read by the resolver below and by the document compiler. */
const listing: RowsSpec = {
  kind: 'rows',
  table: 'reviews',
  filters: {
    subject: { column: 'subject' },
    authorId: { column: 'authorId', decode: userId },
    minRating: { column: 'rating', operator: 'gte', decode: (value: number) => rating.parse(value) },
  },
  order: (args: { orderBy?: keyof typeof orderings | null }) => orderings[args.orderBy ?? 'NEWEST'],
};

const byId: RowsSpec = { kind: 'rows', table: 'reviews', filters: { id: { column: 'id', decode: rowId } } };

/**
 * One row of figures for a subject, read by the resolver and by the document compiler alike:
 * the mean is divided in SQLite's doubles, as JavaScript would divide the same integers.
 */
const ratingSummaryRow = ({ subject }: Record<string, SQLWrapper>) =>
  sql`select ${subject} as subject, count(*) as count,
        case when count(*) > 0 then cast(sum(${reviews.rating}) as real) / count(*) end as average,
        json_array(${sql.join(
          [1, 2, 3, 4, 5].map(
            (stars) => sql`count(case when ${reviews.rating} = ${sql.raw(String(stars))} then 1 end)`,
          ),
          sql`, `,
        )}) as histogram
      from ${reviews} where ${reviews.subject} = ${subject}`;

builder.queryFields((t) => ({
  reviews: t.drizzleConnection(
    {
      type: 'reviews',
      description:
        'Reviews, filtered by the arguments given (all of them: each one left out filters nothing), in `orderBy` order. REST: GET /api/reviews.',
      args: {
        subject: t.arg.string({ description: 'Only reviews of this subject (exact match).' }),
        authorId: t.arg.globalID({ description: "Only this user's reviews (a `User` id)." }),
        minRating: t.arg.int({
          validate: rating.nullish(),
          description: 'Only reviews rated at least this, 1 to 5.',
        }),
        orderBy: t.arg({
          type: ReviewOrder,
          defaultValue: 'NEWEST',
          description: 'The order; newest first by default.',
        }),
      },
      extensions: {
        ...readSpec(listing),
        ...restRoute({ method: 'GET', path: '/reviews', tags: ['reviews'], summary: 'List reviews' }),
      },
      totalCount: (_root, args, ctx) => ctx.db.$count(reviews, boundWhere(listing.filters, reviews, args)),
      resolve: (query, _root, args, ctx) =>
        ctx.db.query.reviews.findMany(
          query({ where: relationalWhere(listing.filters, args), orderBy: listing.order?.(args) }),
        ),
    },
    ReviewConnection,
  ),
  review: t.drizzleField({
    type: 'reviews',
    nullable: true,
    description: 'One review; null if there is none with this id (never was, or deleted). REST: GET /api/reviews/:id.',
    args: { id: t.arg.globalID({ for: Review, required: true, description: "The review's global id." }) },
    extensions: {
      ...readSpec(byId),
      ...restRoute({ method: 'GET', path: '/reviews/:id', tags: ['reviews'], summary: 'Get a review' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.reviews.findFirst(query({ where: relationalWhere(byId.filters, args) })),
  }),
  ratingSummary: t.field({
    type: RatingSummary,
    description:
      'The ratings of one subject in figures; a subject with no reviews has count 0. REST: GET /api/rating-summary.',
    args: { subject: t.arg.string({ required: true, description: 'The subject, as reviews name it.' }) },
    extensions: {
      ...readSpec({ kind: 'aggregate', row: ratingSummaryRow }),
      ...restRoute({
        method: 'GET',
        path: '/rating-summary',
        tags: ['reviews'],
        summary: "Summarise a subject's ratings",
      }),
    },
    resolve: (_root, { subject }, ctx) => {
      const row = ctx.db.get<{ subject: string; count: number; average: number | null; histogram: string }>(
        ratingSummaryRow({ subject: sql`${subject}` }),
      );
      return { ...row, histogram: JSON.parse(row.histogram) as number[] };
    },
  }),
}));

const RatingSummary = builder
  .objectRef<{ subject: string; count: number; average: number | null; histogram: number[] }>('RatingSummary')
  .implement({
    description: "A subject's ratings: how many, their mean and how they spread.",
    fields: (t) => ({
      subject: t.exposeString('subject', { description: 'The subject summarised.' }),
      count: t.exposeInt('count', { description: 'How many reviews it has.' }),
      average: t.exposeFloat('average', { nullable: true, description: 'Mean rating; null with no reviews.' }),
      histogram: t.exposeIntList('histogram', { description: 'Review counts for 1, 2, 3, 4 and 5 stars.' }),
    }),
  });

const CreateReviewInput = builder.inputType('CreateReviewInput', {
  description: 'A new review. One review per user per subject (CONFLICT for a second).',
  fields: (t) => ({
    subject: t
      .string({ required: true, description: 'What is reviewed, 1 to 200 characters.' })
      .validate(userText(200)),
    rating: t.int({ required: true, description: 'Stars, 1 to 5.' }).validate(rating),
    title: t.string({ required: true, description: '1 to 200 characters.' }).validate(userText(200)),
    body: t.string({ required: true, description: '1 to 10,000 characters.' }).validate(userText(10_000)),
    idempotencyKey: t.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }).validate(idempotencyKey.nullish()),
  }),
});

const UpdateReviewInput = builder.inputType('UpdateReviewInput', {
  description: 'Changes to your own review: the fields given change, those left out (or null) stay as they are.',
  fields: (t) => ({
    id: t.globalID({ for: Review, required: true, description: "The review's global id." }),
    rating: t.int({ description: 'New stars, 1 to 5.' }).validate(rating.nullish()),
    title: t.string({ description: 'New title, 1 to 200 characters.' }).validate(userText(200).nullish()),
    body: t.string({ description: 'New text, 1 to 10,000 characters.' }).validate(userText(10_000).nullish()),
    expectedVersion: t.int({ description: EXPECTED_VERSION_DESCRIPTION }).validate(version.nullish()),
  }),
});

const DeleteReviewInput = builder.inputType('DeleteReviewInput', {
  description: 'The review to delete (your own, or any as a moderator); its comments go with it.',
  fields: (t) => ({
    id: t.globalID({ for: Review, required: true, description: "The review's global id." }),
    expectedVersion: t.int({ description: EXPECTED_VERSION_DESCRIPTION }).validate(version.nullish()),
  }),
});

/** A payload holding the written review, re-read through the client's planned selection. */
function reviewPayload(name: string, description: string) {
  return builder.objectRef<{ rowId: number }>(name).implement({
    description,
    fields: (t) => ({
      review: t.drizzleField({
        type: 'reviews',
        description: 'The review as it is now, `version` included.',
        // The fast lane reads it back by the same id, in one statement (src/reads/mutation-payloads.ts).
        extensions: readSpec({ kind: 'written', table: 'reviews' }),
        resolve: async (query, parent, _args, ctx) =>
          orNotFound(await ctx.db.query.reviews.findFirst(query({ where: { id: parent.rowId } })), 'Review'),
      }),
    }),
  });
}

const CreateReviewPayload = reviewPayload('CreateReviewPayload', 'What `createReview` wrote.');

builder.objectField(CreateReviewPayload, 'reviewEdge', (t) =>
  t.field({
    type: reviewConnection.edge,
    nullable: true,
    description:
      "The new review as an edge of `reviews` in its default order (NEWEST) and of its author's `reviews`, cursor included: for Relay's `@prependEdge`.",
    extensions: readSpec({ kind: 'writtenEdge', table: 'reviews', order: orderings.NEWEST }),
    resolve: async (parent, _args, ctx) =>
      writtenEdge(
        'Review',
        orderings.NEWEST,
        orNotFound(await ctx.db.query.reviews.findFirst({ where: { id: parent.rowId } }), 'Review'),
      ),
  }),
);
const UpdateReviewPayload = reviewPayload('UpdateReviewPayload', 'What `updateReview` wrote.');
const DeleteReviewPayload = deletedPayload('DeleteReviewPayload', 'Review');

builder.mutationFields((t) => ({
  createReview: t.field({
    type: CreateReviewPayload,
    description:
      'Writes a review as the signed-in user. BAD_USER_INPUT for a value out of its limits, CONFLICT for a second review of the same subject. REST: POST /api/reviews.',
    extensions: {
      ...restRoute({
        method: 'POST',
        path: '/reviews',
        tags: ['reviews'],
        responseStatus: 201,
        summary: 'Write a review',
      }),
      ...cacheTouches('Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: CreateReviewInput, required: true, description: 'The new review.' }) },
    resolve: (_root, { input }, ctx) => {
      const reviewId = runWrite(ctx, (db, viewer, now) => createReview(db, viewer, now, input));
      ctx.events.publish('reviewAdded', input.subject, { reviewId });
      return { rowId: reviewId };
    },
  }),
  updateReview: t.field({
    type: UpdateReviewPayload,
    description:
      "Changes your own review and raises its `version`. FORBIDDEN for another's review, NOT_FOUND for none, CONFLICT for a stale `expectedVersion`. REST: PATCH /api/reviews/:id.",
    extensions: {
      ...restRoute({ method: 'PATCH', path: '/reviews/:id', tags: ['reviews'], summary: 'Edit a review' }),
      ...cacheTouches('Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: UpdateReviewInput, required: true, description: 'The review and its changes.' }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer, now) => updateReview(db, viewer, now, { ...input, id: rowId(input.id) })),
    }),
  }),
  deleteReview: t.field({
    type: DeleteReviewPayload,
    description:
      'Deletes a review and its comments: your own, or any as a moderator. FORBIDDEN otherwise, NOT_FOUND for none, CONFLICT for a stale `expectedVersion`. REST: DELETE /api/reviews/:id.',
    extensions: {
      ...restRoute({ method: 'DELETE', path: '/reviews/:id', tags: ['reviews'], summary: 'Delete a review' }),
      // Its comments go with it.
      ...cacheTouches('Review', 'Comment', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: DeleteReviewInput, required: true, description: 'The review to delete.' }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer) => deleteReview(db, viewer, { ...input, id: rowId(input.id) })),
    }),
  }),
}));
