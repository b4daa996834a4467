import type { Database, Statement } from 'better-sqlite3';
import type { Viewer } from '../../src/auth.ts';
import { globalId } from '../scenarios.ts';

/**
 * The limit: what the bench's requests cost when written by hand against the same
 * database — prepared statements, no GraphQL, JSON built in the order the service answers.
 * Its answers are byte-for-byte the service's (the bench checks that before measuring), so
 * the ratio service / limit is what the GraphQL stack costs. The page has two forms, the
 * resolvers' way (a statement per review) and one statement as the compiled path runs it; the
 * bench measures both and quotes the service against the faster.
 */
export interface LimitHandlers {
  /** The page as the service's resolvers read it: the reviews, then each one's first comments. */
  page(first: number): string;
  /** The same page as one statement whose only column is the answer: the fastest way by hand. */
  pageInOneStatement(first: number): Buffer;
  review(id: number): string;
  ratingSummary(subject: string): string;
  comment(reviewId: number, id: number): string;
  node(typename: string, id: number): string;
  typename(): string;
  addComment(viewer: Viewer, reviewId: number, body: string, now: number): string | null;
  /** The answer for a comment already written, as the service would render it. */
  renderComment(commentId: number): string;
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

interface PageRow {
  id: number;
  title: string;
  authorName: string;
  commentCount: number;
}

export function limitHandlers(db: Database): LimitHandlers {
  const pageReviews: Statement<[number], PageRow> = db.prepare(
    `select r.id, r.title, u.name as authorName,
            (select count(*) from comments c where c.review_id = r.id) as commentCount
       from reviews r join users u on u.id = r.author_id
      order by r.created_at desc, r.id desc limit ?`,
  );
  const firstComments: Statement<[number], { body: string; authorName: string }> = db.prepare(
    `select c.body, u.name as authorName from comments c join users u on u.id = c.author_id
      where c.review_id = ? order by c.created_at asc, c.id asc limit 5`,
  );
  // JSON built by SQLite, as the compiled path builds it (src/reads/compile.ts), but from plain
  // columns: no json() to re-parse what an inner select built, no gql_int check (a count is an
  // integer). json_group_array takes the rows of an ordered, limited subquery in its order, which
  // the compiled path relies on too. Cast to a blob: a Buffer, no copy in SQLite.
  const pageStatement = db
    .prepare<[number], Buffer>(
      `select cast(json_object('data', json_object('reviews', json_object('nodes', (
         select json_group_array(json_object(
                  'title', p.title,
                  'author', json_object('name', p.authorName),
                  'commentCount', (select count(*) from comments c where c.review_id = p.id),
                  'comments', json_object('nodes', (
                    select json_group_array(json_object('body', f.body, 'author', json_object('name', f.authorName)))
                      from (select c.body, u.name as authorName from comments c join users u on u.id = c.author_id
                             where c.review_id = p.id order by c.created_at asc, c.id asc limit 5) f))))
           from (select r.id, r.title, u.name as authorName from reviews r join users u on u.id = r.author_id
                  order by r.created_at desc, r.id desc limit ?) p)))) as blob)`,
    )
    .pluck();
  const oneReview = db.prepare<
    [number],
    {
      id: number;
      subject: string;
      rating: number;
      title: string;
      body: string;
      createdAt: number;
      authorName: string;
      commentCount: number;
    }
  >(
    `select r.id, r.subject, r.rating, r.title, r.body, r.created_at as createdAt, u.name as authorName,
            (select count(*) from comments c where c.review_id = r.id) as commentCount
       from reviews r join users u on u.id = r.author_id where r.id = ?`,
  );
  const histogram = db.prepare<[string], { rating: number; count: number }>(
    'select rating, count(*) as count from reviews where subject = ? group by rating',
  );
  const upsertUser = db.prepare(
    `insert into users (id, name, created_at, updated_at) values (?, ?, ?, ?)
     on conflict (id) do update set name = excluded.name, updated_at = excluded.updated_at
     where users.name is not excluded.name`,
  );
  const reviewExists = db.prepare<[number], { id: number }>('select id from reviews where id = ?');
  const insertComment = db.prepare<[number, string, string, number, number], { id: number }>(
    'insert into comments (review_id, body, author_id, created_at, updated_at) values (?, ?, ?, ?, ?) returning id',
  );
  const commentById = db.prepare<[number], { id: number; body: string; createdAt: number; authorName: string }>(
    `select c.id, c.body, c.created_at as createdAt, u.name as authorName
       from comments c join users u on u.id = c.author_id where c.id = ?`,
  );
  const commentOnReview = db.prepare<
    [number, number],
    { id: number; body: string; createdAt: number; authorName: string }
  >(
    `select c.id, c.body, c.created_at as createdAt, u.name as authorName
       from comments c join users u on u.id = c.author_id where c.id = ? and c.review_id = ?`,
  );
  const reviewNode = db.prepare<[number], { id: number; title: string; rating: number; authorName: string }>(
    'select r.id, r.title, r.rating, u.name as authorName from reviews r join users u on u.id = r.author_id where r.id = ?',
  );
  const commentNode = db.prepare<[number], { id: number; body: string; authorName: string }>(
    'select c.id, c.body, u.name as authorName from comments c join users u on u.id = c.author_id where c.id = ?',
  );
  const addCommentTx = db.transaction((viewer: Viewer, reviewId: number, body: string, now: number) => {
    upsertUser.run(viewer.id, viewer.name, now, now);
    if (!reviewExists.get(reviewId)) return null;
    return insertComment.get(reviewId, body, viewer.id, now, now)?.id ?? null;
  });

  const renderComment = (commentId: number) => {
    const row = commentById.get(commentId);
    if (!row) throw new Error(`comment ${commentId} is not there`);
    return JSON.stringify({
      data: {
        addComment: {
          comment: {
            id: globalId('Comment', row.id),
            body: row.body,
            createdAt: iso(row.createdAt),
            author: { name: row.authorName },
          },
        },
      },
    });
  };

  return {
    page(first) {
      const nodes = pageReviews.all(first).map((row) => ({
        title: row.title,
        author: { name: row.authorName },
        commentCount: row.commentCount,
        comments: {
          nodes: firstComments.all(row.id).map((c) => ({ body: c.body, author: { name: c.authorName } })),
        },
      }));
      return JSON.stringify({ data: { reviews: { nodes } } });
    },
    pageInOneStatement(first) {
      return pageStatement.get(first) as Buffer;
    },
    review(id) {
      const row = oneReview.get(id);
      const review = row && {
        id: globalId('Review', row.id),
        subject: row.subject,
        rating: row.rating,
        title: row.title,
        body: row.body,
        createdAt: iso(row.createdAt),
        author: { name: row.authorName },
        commentCount: row.commentCount,
      };
      return JSON.stringify({ data: { review: review ?? null } });
    },
    ratingSummary(subject) {
      const counts = [0, 0, 0, 0, 0];
      for (const row of histogram.all(subject)) counts[row.rating - 1] = row.count;
      const count = counts.reduce((sum, n) => sum + n, 0);
      const total = counts.reduce((sum, n, i) => sum + n * (i + 1), 0);
      return JSON.stringify({
        data: { ratingSummary: { subject, count, average: count ? total / count : null, histogram: counts } },
      });
    },
    comment(reviewId, id) {
      const row = commentOnReview.get(id, reviewId);
      const comment = row && {
        id: globalId('Comment', row.id),
        body: row.body,
        createdAt: iso(row.createdAt),
        author: { name: row.authorName },
      };
      return JSON.stringify({ data: { comment: comment ?? null } });
    },
    typename() {
      return JSON.stringify({ data: { __typename: 'Query' } });
    },
    node(typename, id) {
      let node: object | undefined;
      if (typename === 'Review') {
        const row = reviewNode.get(id);
        node = row && {
          __typename: 'Review',
          id: globalId('Review', row.id),
          title: row.title,
          rating: row.rating,
          author: { name: row.authorName },
        };
      } else if (typename === 'Comment') {
        const row = commentNode.get(id);
        node = row && {
          __typename: 'Comment',
          id: globalId('Comment', row.id),
          body: row.body,
          author: { name: row.authorName },
        };
      }
      return JSON.stringify({ data: { node: node ?? null } });
    },
    addComment(viewer, reviewId, body, now) {
      // IMMEDIATE, as the service's runWrite: the check and the insert see the same rows.
      const id = addCommentTx.immediate(viewer, reviewId, body, now);
      return id === null ? null : renderComment(id);
    },
    renderComment,
  };
}
