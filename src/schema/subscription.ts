import { orNotFound } from '../errors.ts';
import type { CommentAdded, ReviewAdded } from '../pubsub.ts';
import { builder } from './builder.ts';
import { rowId } from './ids.ts';
import { Review } from './review.ts';

// Over Server-Sent Events on /graphql (Yoga's built-in transport): POST the subscription with
// `accept: text/event-stream`.
builder.subscriptionType({
  description:
    'Live updates over Server-Sent Events: POST the subscription to /graphql with `accept: text/event-stream`. Events are not replayed: refetch after a reconnect.',
});

builder.subscriptionFields((t) => ({
  reviewAdded: t.drizzleField({
    type: 'reviews',
    description: 'Each new review of `subject`, from the moment of subscribing (no replay).',
    args: { subject: t.arg.string({ required: true, description: 'The subject to watch.' }) },
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
    description:
      'Each new comment on one review, from the moment of subscribing (no replay). Ends at once with NOT_FOUND if the review does not exist.',
    args: { reviewId: t.arg.globalID({ for: Review, required: true, description: "The review's global id." }) },
    // A review that does not exist never gets a comment: say so now, not at the idle limit.
    subscribe: async (_root, { reviewId }, ctx) => {
      const id = rowId(reviewId);
      orNotFound(await ctx.db.query.reviews.findFirst({ columns: { id: true }, where: { id } }), 'Review');
      return ctx.events.subscribe('commentAdded', id);
    },
    resolve: async (query, event, _args, ctx) =>
      orNotFound(
        await ctx.db.query.comments.findFirst(query({ where: { id: (event as CommentAdded).commentId } })),
        'Comment',
      ),
  }),
}));
