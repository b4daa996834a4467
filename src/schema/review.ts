import { and, eq, gte, type SQL, sql } from 'drizzle-orm';
import { stableSql } from '../db/relational-query-cache.ts';
import { comments, reviews } from '../db/schema.ts';
import { orNotFound } from '../errors.ts';
import { createReview, deleteReview, updateReview } from '../services/reviews.ts';
import { runWrite } from '../services/write.ts';
import { builder } from './builder.ts';
import { sharedConnection } from './connections.ts';
import { rowId, userId } from './ids.ts';
import { deletedPayload } from './payloads.ts';
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
    commentCount: t.int({ select: { extras: { commentCount } }, resolve: (review) => review.commentCount }),
  }),
});

export const ReviewConnection = sharedConnection(Review, 'Review');

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

interface ReviewFilter {
  subject?: string | null;
  authorId?: { id: string; typename: string } | null;
  minRating?: number | null;
}

/** The listing filter, as relational-query `where` and as SQL for its count. */
function reviewFilter({ subject, authorId, minRating }: ReviewFilter) {
  const author = authorId ? userId(authorId) : null;
  const where = {
    ...(subject != null && { subject }),
    ...(author != null && { authorId: author }),
    ...(minRating != null && { rating: { gte: minRating } }),
  };
  const conditions: SQL[] = [];
  if (subject != null) conditions.push(eq(reviews.subject, subject));
  if (author != null) conditions.push(eq(reviews.authorId, author));
  if (minRating != null) conditions.push(gte(reviews.rating, minRating));
  return { where, sql: and(...conditions) };
}

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
      totalCount: (_root, args, ctx) => ctx.db.$count(reviews, reviewFilter(args).sql),
      resolve: (query, _root, args, ctx) =>
        ctx.db.query.reviews.findMany(
          query({ where: reviewFilter(args).where, orderBy: orderings[args.orderBy ?? 'NEWEST'] }),
        ),
    },
    ReviewConnection,
  ),
  review: t.drizzleField({
    type: 'reviews',
    nullable: true,
    args: { id: t.arg.globalID({ for: Review, required: true }) },
    resolve: (query, _root, args, ctx) => ctx.db.query.reviews.findFirst(query({ where: { id: rowId(args.id) } })),
  }),
  ratingSummary: t.field({
    type: RatingSummary,
    args: { subject: t.arg.string({ required: true }) },
    resolve: (_root, { subject }, ctx) => {
      const rows = ctx.db
        .select({ rating: reviews.rating, count: sql<number>`count(*)` })
        .from(reviews)
        .where(eq(reviews.subject, subject))
        .groupBy(reviews.rating)
        .all();
      const histogram = [1, 2, 3, 4, 5].map((stars) => rows.find((row) => row.rating === stars)?.count ?? 0);
      const count = histogram.reduce((sum, n) => sum + n, 0);
      const total = histogram.reduce((sum, n, i) => sum + n * (i + 1), 0);
      return { subject, count, average: count ? total / count : null, histogram };
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
        resolve: async (query, parent, _args, ctx) =>
          orNotFound(await ctx.db.query.reviews.findFirst(query({ where: { id: parent.rowId } })), 'Review'),
      }),
    }),
  });
}

const CreateReviewPayload = reviewPayload('CreateReviewPayload');
const UpdateReviewPayload = reviewPayload('UpdateReviewPayload');
const DeleteReviewPayload = deletedPayload('DeleteReviewPayload', 'Review');

builder.mutationFields((t) => ({
  createReview: t.field({
    type: CreateReviewPayload,
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: CreateReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const reviewId = runWrite(ctx, (tx, viewer, now) => createReview(tx, viewer, now, input));
      ctx.events.publish('reviewAdded', input.subject, { reviewId });
      return { rowId: reviewId };
    },
  }),
  updateReview: t.field({
    type: UpdateReviewPayload,
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: UpdateReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (tx, viewer, now) => updateReview(tx, viewer, now, { ...input, id: rowId(input.id) })),
    }),
  }),
  deleteReview: t.field({
    type: DeleteReviewPayload,
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: DeleteReviewInput, required: true }) },
    resolve: (_root, { input }, ctx) => ({
      rowId: runWrite(ctx, (tx, viewer) => deleteReview(tx, viewer, { ...input, id: rowId(input.id) })),
    }),
  }),
}));
