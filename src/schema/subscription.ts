import { orNotFound } from '../errors.ts';
import type { CommentAdded, ReviewAdded } from '../pubsub.ts';
import { builder } from './builder.ts';
import { rowId } from './ids.ts';
import { Review } from './review.ts';

// Over Server-Sent Events on /graphql (Yoga's built-in transport): POST the subscription with
// `accept: text/event-stream`.
builder.subscriptionType({});

builder.subscriptionFields((t) => ({
  reviewAdded: t.drizzleField({
    type: 'reviews',
    description: 'Each new review of `subject`, from the moment of subscribing (no replay).',
    args: { subject: t.arg.string({ required: true }) },
    subscribe: (_root, { subject }, ctx) => ctx.events.subscribe('reviewAdded', subject),
    // plugin-drizzle types the parent as the root; it is what `subscribe` yielded.
    resolve: async (query, event, _args, ctx) =>
      orNotFound(
        await ctx.db.query.reviews.findFirst(query({ where: { id: (event as ReviewAdded).reviewId } })),
        'Review',
      ),
  }),
  commentAdded: t.drizzleField({
    type: 'comments',
    description: 'Each new comment on one review, from the moment of subscribing (no replay).',
    args: { reviewId: t.arg.globalID({ for: Review, required: true }) },
    subscribe: (_root, { reviewId }, ctx) => ctx.events.subscribe('commentAdded', rowId(reviewId)),
    resolve: async (query, event, _args, ctx) =>
      orNotFound(
        await ctx.db.query.comments.findFirst(query({ where: { id: (event as CommentAdded).commentId } })),
        'Comment',
      ),
  }),
}));
