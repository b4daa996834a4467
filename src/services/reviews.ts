import { and, eq, sql } from 'drizzle-orm';
import type { Viewer } from '../auth.ts';
import { reviews } from '../db/schema.ts';
import { clientError, ErrorCode } from '../errors.ts';
import { assertMayChange, idempotent, type Tx } from './write.ts';

export interface CreateReview {
  subject: string;
  rating: number;
  title: string;
  body: string;
  idempotencyKey?: string | null;
}

export function createReview(tx: Tx, viewer: Viewer, now: number, input: CreateReview): number {
  const { idempotencyKey, ...request } = input;
  return idempotent(tx, viewer, now, {
    operation: 'createReview',
    key: idempotencyKey,
    request,
    write: () => {
      const existing = tx
        .select({ id: reviews.id })
        .from(reviews)
        .where(and(eq(reviews.subject, request.subject), eq(reviews.authorId, viewer.id)))
        .get();
      if (existing) throw clientError(ErrorCode.CONFLICT, 'You have already reviewed this subject');
      const row = tx
        .insert(reviews)
        .values({ ...request, authorId: viewer.id, createdAt: now, updatedAt: now })
        .returning({ id: reviews.id })
        .get();
      return row.id;
    },
  });
}

export interface UpdateReview {
  id: number;
  rating?: number | null;
  title?: string | null;
  body?: string | null;
  expectedVersion?: number | null;
}

export function updateReview(tx: Tx, viewer: Viewer, now: number, input: UpdateReview): number {
  if (input.rating == null && input.title == null && input.body == null) {
    throw clientError(ErrorCode.BAD_USER_INPUT, 'Give at least one of rating, title, body');
  }
  const row = tx.select().from(reviews).where(eq(reviews.id, input.id)).get();
  assertMayChange(row, viewer, { what: 'Review', expectedVersion: input.expectedVersion, moderatorMay: false });
  tx.update(reviews)
    .set({
      rating: input.rating ?? row.rating,
      title: input.title ?? row.title,
      body: input.body ?? row.body,
      version: sql`${reviews.version} + 1`,
      updatedAt: now,
    })
    .where(eq(reviews.id, row.id))
    .run();
  return row.id;
}

export function deleteReview(tx: Tx, viewer: Viewer, input: { id: number; expectedVersion?: number | null }) {
  const row = tx.select().from(reviews).where(eq(reviews.id, input.id)).get();
  assertMayChange(row, viewer, { what: 'Review', expectedVersion: input.expectedVersion, moderatorMay: true });
  // Its comments go with it: ON DELETE CASCADE.
  tx.delete(reviews).where(eq(reviews.id, row.id)).run();
  return row.id;
}
