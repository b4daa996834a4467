import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.ts';
import { scopedCursors } from './cursors.ts';
import './review.ts';
import './comment.ts';
import './user.ts';
import './subscription.ts';

export const schema = scopedCursors(builder.toSchema());

/** The SDL committed as schema.graphql: sorted, so diffs show only real changes. */
export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
