import { setMaxListeners } from 'node:events';
import { createPubSub } from 'graphql-yoga';

/**
 * What the subscriptions hear, published by the mutations once their transaction has
 * committed: the key of the new row, never the row, so each subscriber reads it with its own
 * selection. In memory, per process: a subscriber hears the writes of the node it is
 * connected to, and a failover ends the stream (clients reconnect and refetch).
 */
export type ReviewEvents = ReturnType<typeof createReviewEvents>;

/** `eventTarget`: the host's (src/host/host.ts), through which an event reaches every process of it. */
export function createReviewEvents(eventTarget: EventTarget = new EventTarget()) {
  // Listeners are bounded by MAX_SUBSCRIPTIONS (src/http/subscription-limits.ts); Node's warning
  // at 11 listeners of one topic would only fill the log.
  setMaxListeners(0, eventTarget);
  return createPubSub<{
    reviewAdded: [subject: string, event: ReviewAdded];
    commentAdded: [reviewId: number, event: CommentAdded];
  }>({ eventTarget });
}

export interface ReviewAdded {
  reviewId: number;
}

export interface CommentAdded {
  commentId: number;
}
