import { type SQLWrapper, sql } from 'drizzle-orm';
import { stableSql } from '../db/relational-query-cache.ts';
import { comments, reviews } from '../db/schema.ts';
import { orNotFound } from '../errors.ts';
import { boundWhere, type RowsSpec, readSpec, relationalWhere } from '../reads/read-spec.ts';
import { createReview, deleteReview, updateReview } from '../services/reviews.ts';
import { runWrite } from '../services/write.ts';
import { builder } from './builder.ts';
import { sharedConnection } from './connections.ts';
import { cacheTouches, restRoute } from './extensions.ts';
import { rowId, userId } from './ids.ts';
import { deletedPayload, writtenEdge } from './payloads.ts';
import { idempotencyKey, rating, userText, version } from './validation.ts';

/**
 * A review's comments, counted in the query that loads the review. Written out rather than
 * `t.relatedCount`, which makes its SQL anew per request: one function lets the query be built once.
 */
const commentCount = stableSql(
  (review: typeof reviews) => sql<number>`(select count(*) from ${comments} where ${comments.reviewId} = ${review.id})`,
);

export const Review = builder.drizzleNode('reviews', {
  name: 'Review',
  // Load only the columns the query selects (plus ids and cursor columns), not every column.
  select: {},
  id: { column: (review) => review.id },
  fields: (t) => ({
    subject: t.exposeString('subject'),
    rating: t.exposeInt('rating'),
    title: t.exposeString('title'),
    body: t.exposeString('body'),
    author: t.relation('author'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    version: t.exposeInt('version'),
    commentCount: t.int({
      select: { extras: { commentCount } },
      extensions: readSpec({ kind: 'extra', sql: commentCount }),
      resolve: (review) => review.commentCount,
    }),
  }),
});

const reviewConnection = sharedConnection(Review, 'Review');
export const ReviewConnection = reviewConnection.connection;

export const ReviewOrder = builder.enumType('ReviewOrder', {
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
      args: {
        subject: t.arg.string(),
        authorId: t.arg.globalID(),
        minRating: t.arg.int({ validate: rating.nullish() }),
        orderBy: t.arg({ type: ReviewOrder, defaultValue: 'NEWEST' }),
      },
      extensions: { ...readSpec(listing), ...restRoute({ method: 'GET', path: '/reviews', tags: ['reviews'] }) },
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
    args: { id: t.arg.globalID({ for: Review, required: true }) },
    extensions: { ...readSpec(byId), ...restRoute({ method: 'GET', path: '/reviews/:id', tags: ['reviews'] }) },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.reviews.findFirst(query({ where: relationalWhere(byId.filters, args) })),
  }),
  ratingSummary: t.field({
    type: RatingSummary,
    args: { subject: t.arg.string({ required: true }) },
    extensions: {
      ...readSpec({ kind: 'aggregate', row: ratingSummaryRow }),
      ...restRoute({ method: 'GET', path: '/rating-summary', tags: ['reviews'] }),
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
    fields: (t) => ({
      subject: t.exposeString('subject'),
      count: t.exposeInt('count'),
      average: t.exposeFloat('average', { nullable: true, description: 'Mean rating; null with no reviews.' }),
      histogram: t.exposeIntList('histogram', { description: 'Review counts for 1, 2, 3, 4 and 5 stars.' }),
    }),
  });

const CreateReviewInput = builder.inputType('CreateReviewInput', {
  fields: (t) => ({
    subject: t.string({ required: true }).validate(userText(200)),
    rating: t.int({ required: true }).validate(rating),
    title: t.string({ required: true }).validate(userText(200)),
    body: t.string({ required: true }).validate(userText(10_000)),
    idempotencyKey: t.string().validate(idempotencyKey.nullish()),
  }),
});

const UpdateReviewInput = builder.inputType('UpdateReviewInput', {
  fields: (t) => ({
    id: t.globalID({ for: Review, required: true }),
    rating: t.int().validate(rating.nullish()),
    title: t.string().validate(userText(200).nullish()),
    body: t.string().validate(userText(10_000).nullish()),
    expectedVersion: t.int().validate(version.nullish()),
  }),
});

const DeleteReviewInput = builder.inputType('DeleteReviewInput', {
  fields: (t) => ({
    id: t.globalID({ for: Review, required: true }),
    expectedVersion: t.int().validate(version.nullish()),
  }),
});

/** A payload holding the written review, re-read through the client's planned selection. */
function reviewPayload(name: string) {
  return builder.objectRef<{ rowId: number }>(name).implement({
    fields: (t) => ({
      review: t.drizzleField({
        type: 'reviews',
        // The fast lane reads it back by the same id, in one statement (src/reads/compile.ts).
        extensions: readSpec({ kind: 'written', table: 'reviews' }),
        resolve: async (query, parent, _args, ctx) =>
          orNotFound(await ctx.db.query.reviews.findFirst(query({ where: { id: parent.rowId } })), 'Review'),
      }),
    }),
  });
}

const CreateReviewPayload = reviewPayload('CreateReviewPayload');

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
const UpdateReviewPayload = reviewPayload('UpdateReviewPayload');
const DeleteReviewPayload = deletedPayload('DeleteReviewPayload', 'Review');

builder.mutationFields((t) => ({
  createReview: t.field({
    type: CreateReviewPayload,
    extensions: {
      ...restRoute({ method: 'POST', path: '/reviews', tags: ['reviews'], responseStatus: 201 }),
      ...cacheTouches('Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: CreateReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const reviewId = runWrite(ctx, (db, viewer, now) => createReview(db, viewer, now, input));
      ctx.events.publish('reviewAdded', input.subject, { reviewId });
      return { rowId: reviewId };
    },
  }),
  updateReview: t.field({
    type: UpdateReviewPayload,
    extensions: {
      ...restRoute({ method: 'PATCH', path: '/reviews/:id', tags: ['reviews'] }),
      ...cacheTouches('Review', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: UpdateReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer, now) => updateReview(db, viewer, now, { ...input, id: rowId(input.id) })),
    }),
  }),
  deleteReview: t.field({
    type: DeleteReviewPayload,
    extensions: {
      ...restRoute({ method: 'DELETE', path: '/reviews/:id', tags: ['reviews'] }),
      // Its comments go with it.
      ...cacheTouches('Review', 'Comment', 'User'),
    },
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: DeleteReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (db, viewer) => deleteReview(db, viewer, { ...input, id: rowId(input.id) })),
    }),
  }),
}));
