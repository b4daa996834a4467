import { builder } from './builder.ts';
import { ReviewConnection } from './review.ts';

builder.drizzleNode('users', {
  name: 'User',
  // Load only the columns the query selects (plus ids and cursor columns), not every column.
  select: {},
  id: { column: (user) => user.id },
  fields: (t) => ({
    name: t.exposeString('name'),
    reviews: t.relatedConnection(
      'reviews',
      { query: { orderBy: { createdAt: 'desc', id: 'desc' } }, totalCount: true },
      ReviewConnection,
    ),
  }),
});

builder.queryField('viewer', (t) =>
  t.drizzleField({
    type: 'users',
    nullable: true,
    description: 'The signed-in user; null when anonymous or before their first write.',
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer ? ctx.db.query.users.findFirst(query({ where: { id: ctx.viewer.id } })) : null,
  }),
);
