import { eq, sql } from 'drizzle-orm';
import type { Viewer } from '../auth.ts';
import { comments, reviews } from '../db/schema.ts';
import { clientError, ErrorCode } from '../errors.ts';
import { assertMayChange, idempotent, type Tx } from './write.ts';

export interface AddComment {
  reviewId: number;
  body: string;
  idempotencyKey?: string | null;
}

export function addComment(tx: Tx, viewer: Viewer, now: number, input: AddComment): number {
  const { idempotencyKey, ...request } = input;
  return idempotent(tx, viewer, now, {
    operation: 'addComment',
    key: idempotencyKey,
    request,
    write: () => {
      const review = tx.select({ id: reviews.id }).from(reviews).where(eq(reviews.id, request.reviewId)).get();
      if (!review) throw clientError(ErrorCode.NOT_FOUND, 'Review not found');
      const row = tx
        .insert(comments)
        .values({ ...request, authorId: viewer.id, createdAt: now, updatedAt: now })
        .returning({ id: comments.id })
        .get();
      return row.id;
    },
  });
}

export function updateComment(
  tx: Tx,
  viewer: Viewer,
  now: number,
  input: { id: number; body: string; expectedVersion?: number | null },
): number {
  const row = tx.select().from(comments).where(eq(comments.id, input.id)).get();
  assertMayChange(row, viewer, { what: 'Comment', expectedVersion: input.expectedVersion, moderatorMay: false });
  tx.update(comments)
    .set({ body: input.body, version: sql`${comments.version} + 1`, updatedAt: now })
    .where(eq(comments.id, row.id))
    .run();
  return row.id;
}

export function deleteComment(tx: Tx, viewer: Viewer, input: { id: number; expectedVersion?: number | null }) {
  const row = tx.select().from(comments).where(eq(comments.id, input.id)).get();
  assertMayChange(row, viewer, { what: 'Comment', expectedVersion: input.expectedVersion, moderatorMay: true });
  tx.delete(comments).where(eq(comments.id, row.id)).run();
  return row.id;
}
