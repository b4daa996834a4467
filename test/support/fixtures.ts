import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Db } from '../../src/db/client.ts';
import { comments, reviews, users } from '../../src/db/schema.ts';

/** Named builders: each test makes the rows it needs, with only the fields it cares about. */
let sequence = 0;
const next = () => ++sequence;

export function aUser(db: Db, id = `user-${next()}`, name = id) {
  const now = Date.now();
  db.insert(users).values({ id, name, createdAt: now, updatedAt: now }).onConflictDoNothing().run();
  return id;
}

export function aReview(
  db: Db,
  fields: Partial<{
    authorId: string;
    subject: string;
    rating: number;
    title: string;
    body: string;
    createdAt: number;
  }> = {},
) {
  const n = next();
  const authorId = aUser(db, fields.authorId);
  const createdAt = fields.createdAt ?? Date.now();
  const row = db
    .insert(reviews)
    .values({
      subject: fields.subject ?? `subject-${n}`,
      rating: fields.rating ?? 4,
      title: fields.title ?? `Review ${n}`,
      body: fields.body ?? `Body of review ${n}`,
      authorId,
      createdAt,
      updatedAt: createdAt,
    })
    .returning()
    .get();
  return { ...row, globalId: encodeGlobalID('Review', row.id) };
}

export function aComment(
  db: Db,
  fields: { reviewId: number } & Partial<{ authorId: string; body: string; createdAt: number }>,
) {
  const n = next();
  const authorId = aUser(db, fields.authorId);
  const createdAt = fields.createdAt ?? Date.now();
  const row = db
    .insert(comments)
    .values({
      reviewId: fields.reviewId,
      authorId,
      body: fields.body ?? `Comment ${n}`,
      createdAt,
      updatedAt: createdAt,
    })
    .returning()
    .get();
  return { ...row, globalId: encodeGlobalID('Comment', row.id) };
}

/** Every row of every table: a refused write must leave this unchanged. */
export function snapshot(db: Db) {
  return {
    users: db.select().from(users).all(),
    reviews: db.select().from(reviews).all(),
    comments: db.select().from(comments).all(),
  };
}
