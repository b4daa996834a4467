import { Client, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createSseClient } from 'graphql-sse';

/**
 * A small front end of the Reviews API, on another origin than the API: the reviews a page at
 * a time, one review with its comments, a comment added there at once (from the mutation's
 * edge), and comments others add arriving live (graphql-sse, one connection). `?api=` names
 * the API's /graphql (default http://localhost:4000/graphql), `?token=` a bearer token to
 * write with (`npx reviews-api token alice --name Alice`; kept in localStorage).
 */
const settings = new URLSearchParams(location.search);
const api = settings.get('api') ?? 'http://localhost:4000/graphql';
const given = settings.get('token');
if (given) localStorage.setItem('reviews-api-token', given);
const token = given ?? localStorage.getItem('reviews-api-token');
const authorization: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

/**
 * Read-your-writes: the position the latest answer named, sent back on every request. The
 * API's cookie does the same only when the page and the API are on one site (SameSite=Lax:
 * app.example.com and api.example.com, or localhost on two ports); from another site (another
 * domain, or localhost against 127.0.0.1) the browser keeps it back and only this header works.
 */
const POSITION = 'x-reviews-api-position';
let position: string | null = null;
const positioned: typeof fetch = async (input, init) => {
  const headers = new Headers(init?.headers);
  if (position) headers.set(POSITION, position);
  const response = await fetch(input, { ...init, headers });
  position = response.headers.get(POSITION) ?? position;
  return response;
};

// A copy each time: graphql-sse adds its reservation's token to the headers object it is given.
const live = createSseClient({ url: `${api}/stream`, singleConnection: true, headers: () => ({ ...authorization }) });
const client = new Client({
  url: api,
  // POST, with credentials (the read-your-writes cookie, where the browser sends it).
  preferGetMethod: false,
  fetch: positioned,
  fetchOptions: { headers: authorization, credentials: 'include' },
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: live.subscribe({ ...request, query: request.query ?? '' }, sink) }),
      }),
    }),
  ],
});

interface Author {
  name: string;
}
interface CommentNode {
  id: string;
  body: string;
  author: Author;
}
interface ReviewNode {
  id: string;
  title: string;
  body: string;
  rating: number;
  commentCount: number;
  author: Author;
}
interface ListData {
  reviews: {
    edges: { node: ReviewNode }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}
interface ReviewData {
  review: (ReviewNode & { comments: { edges: { node: CommentNode }[] } }) | null;
}
interface AddData {
  addComment: { commentEdge: { cursor: string; node: CommentNode } };
}
interface CommentAddedData {
  commentAdded: CommentNode;
}

const LIST = gql`
  query List($after: String) {
    reviews(first: 5, after: $after) {
      edges { node { id title rating commentCount author { name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const REVIEW = gql`
  query Review($id: ID!) {
    review(id: $id) {
      id title body rating author { name }
      comments(first: 100) { edges { node { id body author { name } } } }
    }
  }
`;
const ADD = gql`
  mutation Add($input: AddCommentInput!) {
    addComment(input: $input) { commentEdge { cursor node { id body author { name } } } }
  }
`;
const COMMENT_ADDED = gql`
  subscription CommentAdded($reviewId: ID!) {
    commentAdded(reviewId: $reviewId) { id body author { name } }
  }
`;

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const reviews = element<HTMLUListElement>('reviews');
const more = element<HTMLButtonElement>('more');
const comments = element<HTMLUListElement>('comments');
const form = element<HTMLFormElement>('add');
const problem = element<HTMLParagraphElement>('problem');

let after: string | null = null;

async function loadPage() {
  const { data, error } = await client.query<ListData>(LIST, { after }).toPromise();
  if (!data) {
    reviews.append(item(`Could not load reviews: ${error?.message}`));
    return;
  }
  for (const { node } of data.reviews.edges) {
    const link = document.createElement('a');
    link.href = `#review=${encodeURIComponent(node.id)}`;
    link.textContent = node.title;
    const li = item(` ${'★'.repeat(node.rating)} by ${node.author.name}, ${node.commentCount} comments`);
    li.prepend(link);
    reviews.append(li);
  }
  after = data.reviews.pageInfo.endCursor;
  more.hidden = !data.reviews.pageInfo.hasNextPage;
}

function item(text: string): HTMLLIElement {
  const li = document.createElement('li');
  li.textContent = text;
  return li;
}

/** A comment once: the mutation's answer and the live event of the same comment meet here. */
function showComment(comment: CommentNode) {
  if (comments.querySelector(`[data-id="${CSS.escape(comment.id)}"]`)) return;
  const li = item(`${comment.author.name}: ${comment.body}`);
  li.dataset.id = comment.id;
  comments.append(li);
}

let stopLive = () => {};
let openId: string | null = null;

async function openReview(id: string) {
  stopLive();
  openId = id;
  comments.replaceChildren();
  const { data, error } = await client.query<ReviewData>(REVIEW, { id }).toPromise();
  const review = data?.review;
  element('title').textContent = review ? review.title : (error?.message ?? 'No such review');
  element('byline').textContent = review ? `${'★'.repeat(review.rating)} by ${review.author.name}` : '';
  element('body').textContent = review?.body ?? '';
  for (const { node } of review?.comments.edges ?? []) showComment(node);
  form.hidden = !review || !token;
  const subscription = client
    .subscription<CommentAddedData>(COMMENT_ADDED, { reviewId: id })
    .subscribe(({ data: event }) => event && showComment(event.commentAdded));
  stopLive = () => subscription.unsubscribe();
}

function route() {
  const id = new URLSearchParams(location.hash.slice(1)).get('review');
  element('list').hidden = id !== null;
  element('detail').hidden = id === null;
  if (id !== null && id !== openId) void openReview(id);
  if (id === null) {
    stopLive();
    openId = null;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = new FormData(form).get('body');
  if (typeof body !== 'string' || !openId) return;
  problem.textContent = '';
  const { data, error } = await client.mutation<AddData>(ADD, { input: { reviewId: openId, body } }).toPromise();
  if (!data) {
    problem.textContent = error?.graphQLErrors[0]?.message ?? error?.message ?? 'Not added';
    return;
  }
  // At once, from the answer: the edge is what the review's comments connection would hold.
  showComment(data.addComment.commentEdge.node);
  form.reset();
});
more.addEventListener('click', () => void loadPage());
element('back').addEventListener('click', (event) => {
  event.preventDefault();
  location.hash = '';
});
window.addEventListener('hashchange', route);
route();
void loadPage();
