import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { graphql, type ResultOf, type VariablesOf } from './graphql.ts';

/** A typed client of the Reviews API in a few lines: fetch, and the types from the schema. */
export class ReviewsClient {
  constructor(
    private readonly endpoint: string,
    private readonly token?: string,
  ) {}

  async request<Result, Variables>(
    document: TadaDocumentNode<Result, Variables>,
    variables: Variables,
  ): Promise<Result> {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.token && { authorization: `Bearer ${this.token}` }),
      },
      body: JSON.stringify(
        documentIdOf(document)
          ? // A persisted document goes by id alone (what a TRUSTED_DOCUMENTS=on server runs).
            { extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf(document) } }, variables }
          : { query: print(document), variables },
      ),
    });
    const body = (await response.json()) as {
      data?: Result;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    if (body.errors?.length || !body.data) {
      const [first] = body.errors ?? [];
      throw new Error(`${first?.extensions?.code ?? response.status}: ${first?.message ?? 'no data'}`);
    }
    return body.data;
  }
}

export const LatestReviews = graphql(`
  query LatestReviews($subject: String, $first: Int) {
    reviews(subject: $subject, first: $first, orderBy: NEWEST) {
      totalCount
      nodes { id title rating author { name } commentCount createdAt }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const CreateReview = graphql(`
  mutation CreateReview($input: CreateReviewInput!) {
    createReview(input: $input) { review { id version subject } }
  }
`);

/**
 * The documents a TRUSTED_DOCUMENTS=on server runs, by id: `npm run client:persisted` writes
 * them to persisted-documents.json, the server's manifest. Each id is the SHA-256 of the
 * document as printed there (`npm run client:check` fails on one that is not), so it is also the
 * `sha256Hash` that the Automatic Persisted Queries protocol sends.
 */
export const PersistedLatestReviews = graphql.persisted(
  '6526e319ec7b519665dbefcd6f5c01df6f4a7e39fc9d99df6c36771a5473a876',
  LatestReviews,
);
export const PersistedCreateReview = graphql.persisted(
  '10827c779cd2862e3899b75d49b9d0392147584f2e1aee08367a1422443d15aa',
  CreateReview,
);

export type LatestReviewsResult = ResultOf<typeof LatestReviews>;
export type CreateReviewInput = VariablesOf<typeof CreateReview>['input'];

/** `graphql.persisted()` documents carry their id. */
function documentIdOf(document: object): string | undefined {
  return 'documentId' in document && typeof document.documentId === 'string' ? document.documentId : undefined;
}

/**
 * What a front end would do: write a review, then list the subject's reviews, fully typed;
 * `persisted`: by the documents' ids, as a TRUSTED_DOCUMENTS=on server requires.
 */
export async function reviewAndList(client: ReviewsClient, input: CreateReviewInput, { persisted = false } = {}) {
  const { createReview } = await client.request(persisted ? PersistedCreateReview : CreateReview, { input });
  const { reviews } = await client.request(persisted ? PersistedLatestReviews : LatestReviews, {
    subject: input.subject,
    first: 10,
  });
  // Typed all the way down: a field the schema lost, or whose type changed, fails here too.
  const titles = reviews.nodes.map((review) => titleLine(review.title, review.rating, review.author.name));
  return { created: createReview.review, total: reviews.totalCount, titles };
}

function titleLine(title: string, rating: number, author: string): string {
  return `${title} (${rating}/5) by ${author}`;
}
