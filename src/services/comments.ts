import { eq, sql } from 'drizzle-orm';
import type { Viewer } from '../auth.ts';
import type { Db } from '../db/client.ts';
import { comments, reviews } from '../db/schema.ts';
import { clientError, ErrorCode } from '../errors.ts';
import { preparedPerDatabase } from './statements.ts';
import { assertMayChange, idempotent } from './write.ts';

const statements = preparedPerDatabase((db) => ({
  reviewExists: db
    .select({ id: reviews.id })
    .from(reviews)
    .where(eq(reviews.id, sql.placeholder('id')))
    .prepare(),
  insert: db
    .insert(comments)
    .values({
      reviewId: sql.placeholder('reviewId'),
      body: sql.placeholder('body'),
      authorId: sql.placeholder('authorId'),
      createdAt: sql.placeholder('now'),
      updatedAt: sql.placeholder('now'),
    })
    .returning({ id: comments.id })
    .prepare(),
  byId: db
    .select()
    .from(comments)
    .where(eq(comments.id, sql.placeholder('id')))
    .prepare(),
  update: db
    .update(comments)
    .set({ body: sql.placeholder('body'), version: sql`${comments.version} + 1`, updatedAt: sql.placeholder('now') })
    .where(eq(comments.id, sql.placeholder('id')))
    .prepare(),
  delete: db
    .delete(comments)
    .where(eq(comments.id, sql.placeholder('id')))
    .prepare(),
}));

export interface AddComment {
  reviewId: number;
  body: string;
  idempotencyKey?: string | null;
}

export function addComment(db: Db, viewer: Viewer, now: number, input: AddComment): number {
  const { idempotencyKey, ...request } = input;
  return idempotent(db, viewer, now, {
    operation: 'addComment',
    key: idempotencyKey,
    request,
    write: () => {
      const { reviewExists, insert } = statements(db);
      if (!reviewExists.get({ id: request.reviewId })) throw clientError(ErrorCode.NOT_FOUND, 'Review not found');
      const row = insert.get({ reviewId: request.reviewId, body: request.body, authorId: viewer.id, now });
      return row.id;
    },
  });
}

export function updateComment(
  db: Db,
  viewer: Viewer,
  now: number,
  input: { id: number; body: string; expectedVersion?: number | null },
): number {
  const { byId, update } = statements(db);
  const row = byId.get({ id: input.id });
  assertMayChange(row, viewer, { what: 'Comment', expectedVersion: input.expectedVersion, moderatorMay: false });
  update.run({ id: row.id, body: input.body, now });
  return row.id;
}

export function deleteComment(db: Db, viewer: Viewer, input: { id: number; expectedVersion?: number | null }) {
  const { byId, delete: remove } = statements(db);
  const row = byId.get({ id: input.id });
  assertMayChange(row, viewer, { what: 'Comment', expectedVersion: input.expectedVersion, moderatorMay: true });
  remove.run({ id: row.id });
  return row.id;
}
