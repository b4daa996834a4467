import type { Config } from '../../src/config.ts';
import type { NodeState } from '../../src/context.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { listen } from '../../src/http/server.ts';
import { createApp } from '../../src/http/yoga.ts';
import type { Logger } from '../../src/logger.ts';
import { testConfig, tokenFor } from '../support/app.ts';

export interface Served {
  /** The server's origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  close(): Promise<void>;
}

/** The app on an ephemeral loopback port over a fresh in-memory database. */
export async function serve(
  options: { config?: Partial<Config>; node?: NodeState; logger?: Logger } = {},
): Promise<Served> {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const app = createApp({
    db,
    config: { ...testConfig, rateLimit: false, ...options.config },
    ...(options.node && { node: options.node }),
    ...(options.logger && { logger: options.logger }),
  });
  const running = await listen(app.handle, { port: 0, host: '127.0.0.1' });
  return {
    origin: running.url,
    close: async () => {
      await running.close();
      db.$client.close();
    },
  };
}

export const aliceToken = () => tokenFor('alice', { name: 'Alice' });

const CREATE_REVIEW = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }`;
const ADD_COMMENT = `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`;

/** A review written over HTTP as `token`'s user; its global id. */
export async function reviewOver(
  origin: string,
  token: string,
  input: { subject: string; rating: number; title: string; body: string },
): Promise<string> {
  const data = await graphql<{ createReview: { review: { id: string } } }>(origin, CREATE_REVIEW, { input }, token);
  return data.createReview.review.id;
}

/** A comment written over HTTP as `token`'s user. */
export async function commentOver(origin: string, token: string, reviewId: string, body: string): Promise<void> {
  await graphql(origin, ADD_COMMENT, { input: { reviewId, body } }, token);
}

/** fetch, recording each request a client library sends and the media type of each answer. */
export function recordingFetch() {
  const sent: { method: string; headers: Headers; body: string | null }[] = [];
  const answered: (string | null)[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    sent.push({
      method: request.method,
      headers: request.headers,
      body: typeof init?.body === 'string' ? init.body : null,
    });
    const response = await fetch(input, init);
    answered.push(response.headers.get('content-type'));
    return response;
  };
  return { sent, answered, fetch: fetcher };
}

/** One GraphQL POST over HTTP; throws on any error, so a test reads only its data. */
export async function graphql<T = Record<string, unknown>>(
  origin: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<T> {
  const response = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}
