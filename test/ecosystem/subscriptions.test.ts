import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenFor } from '../support/app.ts';
import { aliceToken, graphql, type Served, serve } from './served.ts';
import { type ServerSentEvent, serverSentEvents, subscribe } from './sse.ts';

const CREATE_REVIEW = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }`;
const ADD_COMMENT = `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`;

let served: Served;
let token: string;
let abort: AbortController;

beforeEach(async () => {
  abort = new AbortController();
  served = await serve();
  token = await aliceToken();
});

afterEach(async () => {
  abort.abort();
  await served.close();
});

async function createReview(subject: string): Promise<string> {
  const input = { subject, rating: 4, title: `About ${subject}`, body: 'Worth it.' };
  const data = await graphql<{ createReview: { review: { id: string } } }>(
    served.origin,
    CREATE_REVIEW,
    { input },
    token,
  );
  return data.createReview.review.id;
}

async function addComment(reviewId: string, body: string) {
  await graphql(served.origin, ADD_COMMENT, { input: { reviewId, body } }, token);
}

/**
 * Writes until the subscription yields its first event, at most `attempts` times. A stream's
 * listener is attached only once the server starts pulling it, a moment after the response
 * head: writes in that moment are, as documented, not replayed.
 */
async function firstEventWhile(events: AsyncGenerator<ServerSentEvent>, write: (attempt: number) => Promise<void>) {
  const first = events.next();
  let received = false;
  void first.then(() => {
    received = true;
  });
  for (let attempt = 0; attempt < 20 && !received; attempt++) {
    await write(attempt);
    await sleep(100);
  }
  const { value } = await first;
  return value as ServerSentEvent;
}

describe('live updates over Server-Sent Events', () => {
  it('delivers each new comment on the subscribed review, and none from other reviews', async () => {
    const watched = await createReview('kettle');
    const other = await createReview('toaster');
    const response = await subscribe(
      served.origin,
      'subscription($reviewId: ID!) { commentAdded(reviewId: $reviewId) { id body author { name } } }',
      { reviewId: watched },
      abort.signal,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');

    const event = await firstEventWhile(serverSentEvents(response), async (attempt) => {
      await addComment(other, `elsewhere ${attempt}`);
      await addComment(watched, `here ${attempt}`);
    });
    expect(event.event).toBe('next');
    expect(event.data.errors).toBeUndefined();
    expect(event.data.data.commentAdded.body).toMatch(/^here \d+$/);
    expect(event.data.data.commentAdded.author.name).toBe('Alice');
  });

  it('delivers a new review of the subscribed subject, also when it was written through REST', async () => {
    const response = await subscribe(
      served.origin,
      'subscription($subject: String!) { reviewAdded(subject: $subject) { title rating commentCount } }',
      { subject: 'grinder' },
      abort.signal,
    );
    const event = await firstEventWhile(serverSentEvents(response), async (attempt) => {
      await createReview(`not-grinder-${attempt}`);
      const rest = await fetch(`${served.origin}/api/reviews`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json', // One review per user per subject: each attempt writes as another user.
          authorization: `Bearer ${await tokenFor(`grinder-fan-${attempt}`)}`,
        },
        body: JSON.stringify({ subject: 'grinder', rating: 5, title: `Burrs ${attempt}`, body: 'Even grind.' }),
      });
      expect(rest.status).toBe(201);
    });
    expect(event.data.data.reviewAdded).toEqual({
      title: expect.stringMatching(/^Burrs \d+$/),
      rating: 5,
      commentCount: 0,
    });
  });
});

describe('a subscription that cannot deliver anything', () => {
  it('ends at once with NOT_FOUND when the review does not exist', async () => {
    const response = await subscribe(
      served.origin,
      'subscription($reviewId: ID!) { commentAdded(reviewId: $reviewId) { id } }',
      // A well-formed global id of a review never written.
      { reviewId: Buffer.from('Review:999').toString('base64') },
      abort.signal,
    );
    const events = [];
    // Ends by itself: the server closes the stream (its `complete` carries no data).
    for await (const event of serverSentEvents(response)) events.push(event);
    expect(events).toEqual([
      {
        event: 'next',
        data: { errors: [expect.objectContaining({ message: 'Review not found', extensions: { code: 'NOT_FOUND' } })] },
      },
    ]);
  });
});
