import { ApolloClient, gql, InMemoryCache } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';
import { batchRequests } from 'graphql-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliceToken, recordingFetch, type Served, serve } from './served.ts';

const CREATE = `mutation Create($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }`;
const COUNT = `query Count($subject: String) { reviews(subject: $subject) { totalCount } }`;

describe('batched requests, from the clients that send them, over a real socket', () => {
  let served: Served;
  let endpoint: string;
  let token: string;
  beforeAll(async () => {
    // Three mutations a minute per user: a batch is counted operation by operation.
    served = await serve({ config: { rateLimit: true, rateLimitUserPerMinute: 3 } });
    endpoint = `${served.origin}/graphql`;
    token = await aliceToken();
  });
  afterAll(() => served.close());

  it('@apollo/client: BatchHttpLink sends several operations as one request, each answered', async () => {
    const counted = recordingFetch();
    const client = new ApolloClient({
      link: new BatchHttpLink({
        uri: endpoint,
        batchMax: 5,
        batchInterval: 20,
        fetch: counted.fetch,
        headers: { authorization: `Bearer ${token}` },
      }),
      cache: new InMemoryCache(),
    });
    const answers = await Promise.all(
      ['kettle', 'toaster'].map((subject) =>
        client.mutate<{ createReview: { review: { title: string } } }>({
          mutation: gql(CREATE),
          variables: { input: { subject, rating: 4, title: `A ${subject}`, body: 'Fine.' } },
        }),
      ),
    );
    expect(answers.map((answer) => answer.data?.createReview.review.title)).toEqual(['A kettle', 'A toaster']);
    const counts = await Promise.all(
      ['kettle', 'toaster', 'grill'].map((subject) =>
        client.query<{ reviews: { totalCount: number } }>({
          query: gql(COUNT),
          variables: { subject },
          fetchPolicy: 'network-only',
        }),
      ),
    );
    expect(counts.map((answer) => answer.data?.reviews.totalCount)).toEqual([1, 1, 0]);
    // Two HTTP requests in all, each a JSON array of operations.
    expect(counted.sent.map(({ body }) => (JSON.parse(body ?? 'null') as unknown[]).length)).toEqual([2, 3]);
  });

  it('graphql-request: batchRequests, each mutation rate limited as if sent alone', async () => {
    const creates = ['grill', 'oven'].map((subject) => ({
      document: CREATE,
      variables: { input: { subject, rating: 3, title: `A ${subject}`, body: 'Fine.' } },
    }));
    // Alice made two mutations above: one more is allowed this minute, the second is refused.
    const answers = await batchRequests(endpoint, creates, { authorization: `Bearer ${token}` }).catch(
      (error: { response?: unknown }) => error.response,
    );
    const bodies = answers as unknown as { data?: unknown; errors?: { extensions: { code: string } }[] }[];
    expect(bodies[0]?.data).toMatchObject({ createReview: { review: { title: 'A grill' } } });
    expect(bodies[1]?.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
  });
});
