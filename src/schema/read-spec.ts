import { and, type Column, eq, gte, type SQL, type SQLWrapper } from 'drizzle-orm';

/**
 * What a field reads, as data both paths use: the field's resolver builds its relational query
 * from it, and the document compiler (src/reads/) builds the same rows into its one statement.
 * Declared here, beside the schema, so the compiler depends on the schema and never the other
 * way. A root field without one is answered by its resolver only, and a document selecting it
 * runs the ordinary way.
 */
const READ_SPEC = 'reviewsApiRead';

export type Direction = 'asc' | 'desc';
export type Ordering = Readonly<Record<string, Direction>>;

/** One argument that filters the rows: `column = value` (or `>=`), after `decode`. */
export interface ArgFilter {
  column: string;
  operator?: 'eq' | 'gte';
  /** Turns the argument into the column's value; throws (a client error) when it is not one. */
  decode?: (value: never) => unknown;
}

export interface RowsSpec {
  kind: 'rows';
  /** The table, as named in `defineRelations`. */
  table: string;
  /** Filters by argument name; a null or absent argument does not filter. */
  filters: Readonly<Record<string, ArgFilter>>;
  /** A column the signed-in viewer's id must equal (no viewer: no row). */
  viewerColumn?: string;
  /** Connections: the order of the rows, from the arguments. */
  order?: (args: object) => Ordering;
  /** An argument naming a row of `table` that must exist, or the field is an error (NOT_FOUND). */
  mustExist?: { arg: string; table: string; column: string };
}

/**
 * A root field answered from one row of SQL: `row` selects one column per field of the result
 * type (named as its exposed property) from the arguments, here given as SQL values.
 */
export interface AggregateSpec {
  kind: 'aggregate';
  row: (args: Record<string, SQLWrapper>) => SQL;
}

/** A related connection's order, beside the relation that `t.relatedConnection` names. */
export interface RelatedConnectionSpec {
  kind: 'relatedConnection';
  relation: string;
  order: Ordering;
}

/** A field computed by SQL on its parent row (what `select: { extras }` adds to the query). */
export interface ExtraSpec {
  kind: 'extra';
  sql: (table: never) => SQL;
}

/**
 * A mutation payload's field holding the row the mutation wrote (its id is the payload's
 * `rowId`): the fast lane reads it back by that id with the client's selection.
 */
export interface WrittenSpec {
  kind: 'written';
  table: string;
}

/**
 * A mutation payload's edge of the row it wrote: the row as a connection of `table` in `order`
 * would hold it, its cursor included, so a client can put it into that connection.
 */
export interface WrittenEdgeSpec {
  kind: 'writtenEdge';
  table: string;
  order: Ordering;
}

export type ReadSpec = RowsSpec | AggregateSpec | RelatedConnectionSpec | ExtraSpec | WrittenSpec | WrittenEdgeSpec;

/** The field extensions that carry a spec: `extensions: readSpec({...})`. */
export function readSpec(spec: ReadSpec): Record<string, unknown> {
  return { [READ_SPEC]: spec };
}

/** A field's spec, as `readSpec` left it in its extensions; undefined for a field without one. */
export function readSpecOf(field: { extensions?: unknown }): ReadSpec | undefined {
  return (field.extensions as Record<string, unknown> | undefined)?.[READ_SPEC] as ReadSpec | undefined;
}

function decoded(filter: ArgFilter, value: unknown): unknown {
  return filter.decode ? filter.decode(value as never) : value;
}

/** The filters as a relational-query `where` (the resolvers' form). */
export function relationalWhere(filters: RowsSpec['filters'], args: object) {
  const where: Record<string, unknown> = {};
  for (const [arg, filter] of Object.entries(filters)) {
    const value = (args as Record<string, unknown>)[arg];
    if (value == null) continue;
    const operand = decoded(filter, value);
    where[filter.column] = filter.operator === 'gte' ? { gte: operand } : operand;
  }
  return where;
}

/** The filters as SQL over `table`, values as given by `valueOf` (bound values or placeholders). */
export function sqlWhere(
  filters: RowsSpec['filters'],
  table: object,
  present: (arg: string) => boolean,
  operand: (arg: string, filter: ArgFilter) => unknown,
): SQL | undefined {
  const conditions: SQL[] = [];
  for (const [arg, filter] of Object.entries(filters)) {
    if (!present(arg)) continue;
    const column = (table as Record<string, Column>)[filter.column] as Column;
    const value = operand(arg, filter);
    conditions.push(filter.operator === 'gte' ? gte(column, value) : eq(column, value));
  }
  return and(...conditions);
}

/** The filters as SQL with the arguments' decoded values (the resolvers' totalCount). */
export function boundWhere(filters: RowsSpec['filters'], table: object, args: object) {
  const values = args as Record<string, unknown>;
  return sqlWhere(
    filters,
    table,
    (arg) => values[arg] != null,
    (arg, filter) => decoded(filter, values[arg]),
  );
}
