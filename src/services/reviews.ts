import { and, eq, sql } from 'drizzle-orm';
import type { Viewer } from '../auth.ts';
import type { Db } from '../db/client.ts';
import { reviews } from '../db/schema.ts';
import { clientError, ErrorCode } from '../errors.ts';
import { preparedPerDatabase } from './statements.ts';
import { assertMayChange, idempotent } from './write.ts';

const statements = preparedPerDatabase((db) => ({
  byAuthorOfSubject: db
    .select({ id: reviews.id })
    .from(reviews)
    .where(and(eq(reviews.subject, sql.placeholder('subject')), eq(reviews.authorId, sql.placeholder('authorId'))))
    .prepare(),
  insert: db
    .insert(reviews)
    .values({
      subject: sql.placeholder('subject'),
      rating: sql.placeholder('rating'),
      title: sql.placeholder('title'),
      body: sql.placeholder('body'),
      authorId: sql.placeholder('authorId'),
      createdAt: sql.placeholder('now'),
      updatedAt: sql.placeholder('now'),
    })
    .returning({ id: reviews.id })
    .prepare(),
  byId: db
    .select()
    .from(reviews)
    .where(eq(reviews.id, sql.placeholder('id')))
    .prepare(),
  // Every column is set: updateReview binds the merged values, so one statement serves any subset.
  update: db
    .update(reviews)
    .set({
      rating: sql.placeholder('rating'),
      title: sql.placeholder('title'),
      body: sql.placeholder('body'),
      version: sql`${reviews.version} + 1`,
      updatedAt: sql.placeholder('now'),
    })
    .where(eq(reviews.id, sql.placeholder('id')))
    .prepare(),
  delete: db
    .delete(reviews)
    .where(eq(reviews.id, sql.placeholder('id')))
    .prepare(),
}));

export interface CreateReview {
  subject: string;
  rating: number;
  title: string;
  body: string;
  idempotencyKey?: string | null;
}

export function createReview(db: Db, viewer: Viewer, now: number, input: CreateReview): number {
  const { idempotencyKey, ...request } = input;
  return idempotent(db, viewer, now, {
    operation: 'createReview',
    key: idempotencyKey,
    request,
    write: () => {
      const { byAuthorOfSubject, insert } = statements(db);
      if (byAuthorOfSubject.get({ subject: request.subject, authorId: viewer.id })) {
        throw clientError(ErrorCode.CONFLICT, 'You have already reviewed this subject');
      }
      const { subject, rating, title, body } = request;
      const row = insert.get({ subject, rating, title, body, authorId: viewer.id, now });
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

export function updateReview(db: Db, viewer: Viewer, now: number, input: UpdateReview): number {
  if (input.rating == null && input.title == null && input.body == null) {
    throw clientError(ErrorCode.BAD_USER_INPUT, 'Give at least one of rating, title, body');
  }
  const { byId, update } = statements(db);
  const row = byId.get({ id: input.id });
  assertMayChange(row, viewer, { what: 'Review', expectedVersion: input.expectedVersion, moderatorMay: false });
  update.run({
    id: row.id,
    rating: input.rating ?? row.rating,
    title: input.title ?? row.title,
    body: input.body ?? row.body,
    now,
  });
  return row.id;
}

export function deleteReview(db: Db, viewer: Viewer, input: { id: number; expectedVersion?: number | null }) {
  const { byId, delete: remove } = statements(db);
  const row = byId.get({ id: input.id });
  assertMayChange(row, viewer, { what: 'Review', expectedVersion: input.expectedVersion, moderatorMay: true });
  // Its comments go with it: ON DELETE CASCADE.
  remove.run({ id: row.id });
  return row.id;
}
