import type { DatasetSize } from './dataset.ts';
import { subjectName } from './dataset.ts';

/** A GraphQL request the bench sends, as the JSON body both the service and the limit read. */
export interface GraphQLBody {
  query: string;
  operationName: string;
  variables: Record<string, unknown>;
}

/** Every scenario, in the order a run measures them. */
export const SCENARIO_NAMES = ['page', 'review', 'ratingSummary', 'comment', 'node', 'typename', 'addComment'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface Scenario {
  name: ScenarioName;
  description: string;
  /** Writes need a bearer token and change the database. */
  write: boolean;
  /** The i-th request of a run: reads rotate over rows so no single row is all a run touches. */
  body(i: number): GraphQLBody;
}

export const PAGE_QUERY =
  'query Page($first: Int!) { reviews(first: $first) { nodes { title author { name } commentCount comments(first: 5) { nodes { body author { name } } } } } }';
export const REVIEW_QUERY =
  'query Review($id: ID!) { review(id: $id) { id subject rating title body createdAt author { name } commentCount } }';
export const SUMMARY_QUERY =
  'query Summary($subject: String!) { ratingSummary(subject: $subject) { subject count average histogram } }';
export const COMMENT_QUERY =
  'query Comment($reviewId: ID!, $id: ID!) { comment(reviewId: $reviewId, id: $id) { id body createdAt author { name } } }';
export const NODE_QUERY =
  'query Node($id: ID!) { node(id: $id) { __typename id ... on Review { title rating author { name } } ...CommentFields } } fragment CommentFields on Comment { body author { name } }';
/** No SQL and no resolver: what any request costs a server before its work starts. */
export const TYPENAME_QUERY = 'query Typename { __typename }';
export const ADD_COMMENT_MUTATION =
  'mutation AddComment($input: AddCommentInput!) { addComment(input: $input) { comment { id body createdAt author { name } } } }';

/** Relay global ids, as @pothos/plugin-relay encodes them. */
export function globalId(typename: string, id: number | string): string {
  return Buffer.from(`${typename}:${id}`).toString('base64');
}

/** The row id inside a global id. */
export function rowIdOf(id: string): number {
  return Number(Buffer.from(id, 'base64').toString().split(':')[1]);
}

/** How many distinct rows a read scenario rotates over. */
const ROTATION = 100;

export function scenarios(size: DatasetSize, pageSize = 20): Scenario[] {
  const rows = Math.min(ROTATION, size.reviews);
  const subjects = Math.min(ROTATION, size.subjects);
  return [
    {
      name: 'page',
      description: `reviews(first: ${pageSize}) with author, commentCount, 5 comments with authors`,
      write: false,
      body: () => ({ query: PAGE_QUERY, operationName: 'Page', variables: { first: pageSize } }),
    },
    {
      name: 'review',
      description: 'review(id) with author and commentCount',
      write: false,
      body: (i) => ({
        query: REVIEW_QUERY,
        operationName: 'Review',
        variables: { id: globalId('Review', (i % rows) + 1) },
      }),
    },
    {
      name: 'ratingSummary',
      description: 'ratingSummary(subject): count, average, histogram',
      write: false,
      body: (i) => ({
        query: SUMMARY_QUERY,
        operationName: 'Summary',
        variables: { subject: subjectName((i % subjects) + 1) },
      }),
    },
    {
      name: 'comment',
      description: 'comment(reviewId, id) with author',
      write: false,
      // The dataset puts comment n on review n (for n up to the number of reviews).
      body: (i) => ({
        query: COMMENT_QUERY,
        operationName: 'Comment',
        variables: { reviewId: globalId('Review', (i % rows) + 1), id: globalId('Comment', (i % rows) + 1) },
      }),
    },
    {
      name: 'node',
      description: 'node(id) with an inline and a named fragment, reviews and comments in turn',
      write: false,
      body: (i) => ({
        query: NODE_QUERY,
        operationName: 'Node',
        variables: { id: globalId(i % 2 ? 'Comment' : 'Review', (i % rows) + 1) },
      }),
    },
    {
      name: 'typename',
      description: '{ __typename }: no SQL, no resolver, the floor of a request',
      write: false,
      body: () => ({ query: TYPENAME_QUERY, operationName: 'Typename', variables: {} }),
    },
    {
      name: 'addComment',
      description: 'addComment mutation (one IMMEDIATE transaction), answer re-read',
      write: true,
      body: (i) => ({
        query: ADD_COMMENT_MUTATION,
        operationName: 'AddComment',
        variables: { input: { reviewId: globalId('Review', (i % rows) + 1), body: `Bench comment ${i}` } },
      }),
    },
  ];
}
