import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Timestamps are epoch milliseconds: exact in JavaScript, so cursors compare exactly. */
const timestamps = {
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
};

/** Who wrote a row and how often it changed: the ownership and version rules act on these. */
const authored = () => ({
  authorId: text('author_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  version: integer('version').notNull().default(1),
});

export const users = sqliteTable('users', {
  // The JWT `sub`: users are created on their first write, named by their token.
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  ...timestamps,
});

export const reviews = sqliteTable(
  'reviews',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    subject: text('subject').notNull(),
    rating: integer('rating').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    ...authored(),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('reviews_subject_author_unique').on(t.subject, t.authorId),
    // One index per listing order, each ending in the primary key tie-breaker.
    index('reviews_created_idx').on(t.createdAt, t.id),
    index('reviews_rating_idx').on(t.rating, t.id),
    index('reviews_subject_created_idx').on(t.subject, t.createdAt, t.id),
    index('reviews_subject_rating_idx').on(t.subject, t.rating, t.id),
    index('reviews_author_created_idx').on(t.authorId, t.createdAt, t.id),
    check('reviews_rating_range', sql`${t.rating} between 1 and 5`),
  ],
);

export const comments = sqliteTable(
  'comments',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    reviewId: integer('review_id')
      .notNull()
      .references(() => reviews.id, { onDelete: 'cascade' }),
    body: text('body').notNull(),
    ...authored(),
    ...timestamps,
  },
  (t) => [
    index('comments_review_created_idx').on(t.reviewId, t.createdAt, t.id),
    index('comments_author_idx').on(t.authorId),
  ],
);

/**
 * The first result of each (user, key) write, so a retried mutation returns it instead of
 * writing twice. `requestHash` detects a key reused for a different request.
 */
export const idempotencyKeys = sqliteTable(
  'idempotency_keys',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    operation: text('operation').notNull(),
    requestHash: text('request_hash').notNull(),
    resultId: integer('result_id').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.key] })],
);
