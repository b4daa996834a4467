import { defineRelations } from 'drizzle-orm';
import * as schema from './schema.ts';

export const relations = defineRelations(schema, (r) => ({
  users: {
    reviews: r.many.reviews(),
    comments: r.many.comments(),
  },
  reviews: {
    author: r.one.users({ from: r.reviews.authorId, to: r.users.id, optional: false }),
    comments: r.many.comments(),
  },
  comments: {
    author: r.one.users({ from: r.comments.authorId, to: r.users.id, optional: false }),
    review: r.one.reviews({ from: r.comments.reviewId, to: r.reviews.id, optional: false }),
  },
}));
