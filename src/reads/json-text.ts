import { type SQL, sql } from 'drizzle-orm';

/**
 * The answer is built as JSON text, which costs about a third less than SQLite's JSONB on the
 * page query (JSONB is converted at every level). Text is JSON to the function it reaches only
 * while it keeps SQLite's JSON subtype: a scalar subquery's value keeps it, a column of a
 * subquery in FROM does not (SQLite drops subtypes where it flattens one), so such a column is
 * marked again with json(). test/unit/json-subtype.test.ts holds SQLite to both.
 */
export const jsonColumn = (column: SQL) => sql`json(${column})`;

export const TRUE = sql.raw(`json('true')`);
export const FALSE = sql.raw(`json('false')`);

/** A response key or type name: GraphQL names are `[_A-Za-z][_0-9A-Za-z]*`, safe as SQL text. */
export const text = (name: string) => sql.raw(`'${name}'`);

/** A JSON object of these keys, in this order, as the executor writes a selection's fields. */
export function jsonObject(entries: [string, SQL][]): SQL {
  if (entries.length === 0) return sql.raw('json_object()');
  return sql`json_object(${sql.join(
    entries.map(([key, value]) => sql`${text(key)}, ${value}`),
    sql`, `,
  )})`;
}
