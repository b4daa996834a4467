import { builder } from './builder.ts';
import { restRoute } from './extensions.ts';
import { type RowsSpec, readSpec } from './read-spec.ts';
import { ReviewConnection } from './review.ts';

/** A user's own reviews, newest first, the primary key breaking ties. */
const newestFirst = { createdAt: 'desc', id: 'desc' } as const;

const signedInUser: RowsSpec = { kind: 'rows', table: 'users', filters: {}, viewerColumn: 'id' };

builder.drizzleNode('users', {
  name: 'User',
  description: 'Someone who writes reviews and comments: known from their first write, named by their token.',
  // Load only the columns the query selects (plus ids and cursor columns), not every column.
  select: {},
  id: { column: (user) => user.id },
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The display name, as the token of their latest write gave it.' }),
    reviews: t.relatedConnection(
      'reviews',
      {
        description: 'Their reviews, newest first.',
        query: { orderBy: newestFirst },
        totalCount: true,
        extensions: readSpec({ kind: 'relatedConnection', relation: 'reviews', order: newestFirst }),
      },
      ReviewConnection,
    ),
  }),
});

builder.queryField('viewer', (t) =>
  t.drizzleField({
    type: 'users',
    nullable: true,
    description: 'The signed-in user; null when anonymous or before their first write.',
    extensions: {
      ...readSpec(signedInUser),
      ...restRoute({ method: 'GET', path: '/viewer', tags: ['users'], summary: 'Get the signed-in user' }),
    },
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer ? ctx.db.query.users.findFirst(query({ where: { id: ctx.viewer.id } })) : null,
  }),
);
