import { and, type Column, type SQL, sql } from 'drizzle-orm';
import { type FieldNode, type GraphQLOutputType, getNamedType, isObjectType } from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/builder.ts';
import { cursorScope, nodeTypeOf, readCursor } from '../schema/cursors.ts';
import type { Direction, Ordering } from '../schema/read-spec.ts';
import { NotCompilable, Unsupported } from './fallback.ts';
import { FALSE, jsonColumn, jsonObject, TRUE, text } from './json-text.ts';
import type { Plan, RunState } from './plan.ts';
import { drizzleCursor } from './schema-adapter.ts';
import { type AnyTable, primaryKey } from './tables.ts';

/** A connection's argument values at compile time: what they are decides the statement's shape. */
export interface PageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

/** The rows a connection pages. */
export interface Source {
  table: AnyTable;
  tableName: string;
  order: Ordering;
  /** The rows' own filter (no cursors), over an alias of `table`. */
  where: (rows: AnyTable) => SQL | undefined;
}

/**
 * A row of `tableName` as the object `type` its selection asks for: rows.ts's, passed in, since
 * rows hold connections and connections hold rows.
 */
export type RowObject = (
  type: GraphQLOutputType,
  tableName: string,
  rows: AnyTable,
  nodes: readonly FieldNode[],
) => SQL;

/**
 * A cursor connection as plugin-drizzle answers it: rows past `after` / before `before` in the
 * order (inverted for `last`), one row more than the page to learn whether more exist,
 * cursors of the order's columns, totalCount over the filter alone.
 */
export function connection(
  plan: Plan,
  type: GraphQLOutputType,
  nodes: readonly FieldNode[],
  source: Source,
  now: PageArgs,
  at: (run: RunState) => Record<string, unknown>,
  rowObject: RowObject,
): SQL {
  const connectionType = getNamedType(type);
  if (!isObjectType(connectionType)) throw new Unsupported('a connection that is not an object');
  if (now.first != null && now.last != null) throw new Unsupported('first and last together');
  const backward = now.first == null && now.last != null;
  const entries = orderEntries(source);
  const nodeType = nodeTypeOf(connectionType);
  if (!nodeType) throw new Unsupported('a connection without edges of nodes');
  const scope = cursorScope(nodeType, source.order);
  const size = plan.bind((run) => pageSize(at(run) as PageArgs));
  plan.checks.push((run) => pageSize(at(run) as PageArgs));
  for (const paging of ['after', 'before'] as const) {
    if (now[paging] != null) plan.checks.push((run) => parseCursor(at(run)[paging], scope, entries));
  }
  const cursorPart = (paging: 'after' | 'before', index: number) =>
    plan.bind((run) => parseCursor(at(run)[paging], scope, entries)[index]);
  const page = (rows: AnyTable) => {
    const conditions = [source.where(rows)];
    for (const paging of ['after', 'before'] as const) {
      if (now[paging] == null) continue;
      const ascending = paging === 'after' ? 'asc' : 'desc';
      conditions.push(
        keyset(
          entries.map((entry, i) => ({
            column: rows[entry.key] as Column,
            greater: entry.direction === ascending,
            value: cursorPart(paging, i),
          })),
        ),
      );
    }
    return and(...conditions);
  };
  const fetchOrder = (rows: AnyTable, flip: boolean) =>
    sql.join(
      entries.map(
        ({ key, direction }) => sql`${rows[key]} ${sql.raw(flip !== (direction === 'desc') ? 'desc' : 'asc')}`,
      ),
      sql`, `,
    );
  const positions = entries.map((_, i) => sql.raw(`o${i}`));
  const outputOrder = (reverse: boolean) =>
    sql.join(
      entries.map(
        ({ direction }, i) => sql`${positions[i]} ${sql.raw(reverse !== (direction === 'desc') ? 'desc' : 'asc')}`,
      ),
      sql`, `,
    );
  const cursorOfRow = (rows: AnyTable) => cursorOf(scope, entries, rows);
  /** The page's rows, each as `value`, with its order columns for putting them in output order. */
  const pageRows = (value: (rows: AnyTable) => SQL) => {
    const rows = plan.alias(source.tableName);
    const orderColumns = entries.map(({ key }, i) => sql`${rows[key]} as ${positions[i]}`);
    return sql`select ${value(rows)} as v, ${sql.join(orderColumns, sql`, `)} from ${plan.from(rows)}
      where ${page(rows) ?? sql`1`} order by ${fetchOrder(rows, backward)} limit ${size}`;
  };
  // Rows reach an aggregate in the order of the subquery they come from, as Drizzle's own
  // relational queries rely on: a forward page needs no sorting again, a backward one is
  // turned around (at most a page of rows).
  const inOutputOrder = (value: (rows: AnyTable) => SQL) =>
    backward ? sql`select v from (${pageRows(value)}) order by ${outputOrder(false)}` : pageRows(value);
  const list = (value: (rows: AnyTable) => SQL) =>
    sql`(select json_group_array(${jsonColumn(sql`v`)}) from (${inOutputOrder(value)}))`;
  // The first row fetched is the page's start going forward and its end going backward.
  const endOfPage = (last: boolean) =>
    last === backward
      ? sql`(select v from (${pageRows(cursorOfRow)}) limit 1)`
      : sql`(select v from (${pageRows(cursorOfRow)}) order by ${outputOrder(last)} limit 1)`;
  const more = () => {
    const rows = plan.alias(source.tableName);
    return sql`case when exists (select 1 from ${plan.from(rows)} where ${page(rows) ?? sql`1`}
      order by ${fetchOrder(rows, backward)} limit 1 offset ${size}) then ${TRUE} else ${FALSE} end`;
  };
  const pageInfo = (pageInfoNodes: readonly FieldNode[], pageInfoType: GraphQLOutputType): SQL => {
    const infoType = getNamedType(pageInfoType);
    if (!isObjectType(infoType)) throw new Unsupported('pageInfo');
    return jsonObject(
      [...plan.subfields(infoType, pageInfoNodes)].map(([key, fieldNodes]): [string, SQL] => {
        switch (fieldNodes[0]?.name.value) {
          case '__typename':
            return [key, text(infoType.name)];
          case 'hasNextPage':
            return [key, now.before != null ? TRUE : now.last != null ? FALSE : more()];
          case 'hasPreviousPage':
            return [key, now.after != null ? TRUE : backward ? more() : FALSE];
          case 'startCursor':
            return [key, endOfPage(false)];
          case 'endCursor':
            return [key, endOfPage(true)];
        }
        throw new Unsupported(`PageInfo.${fieldNodes[0]?.name.value}`);
      }),
    );
  };
  return jsonObject(
    [...plan.subfields(connectionType, nodes)].map(([key, fieldNodes]): [string, SQL] => {
      const name = fieldNodes[0]?.name.value;
      if (name === '__typename') return [key, text(connectionType.name)];
      const { def } = plan.fieldOf(connectionType, fieldNodes);
      switch (name) {
        case 'totalCount': {
          const rows = plan.alias(source.tableName);
          return [key, sql`(select count(*) from ${plan.from(rows)} where ${source.where(rows) ?? sql`1`})`];
        }
        case 'nodes':
          return [key, list((rows) => rowObject(def.type, source.tableName, rows, fieldNodes))];
        case 'pageInfo':
          return [key, pageInfo(fieldNodes, def.type)];
        case 'edges':
          return [
            key,
            list((rows) => edge(plan, def.type, source.tableName, rows, fieldNodes, cursorOfRow, rowObject)),
          ];
      }
      throw new Unsupported(`${connectionType.name}.${name}`);
    }),
  );
}

/** An edge of a row: its cursor as `cursorOfRow` writes it, its node as `rowObject` does. */
export function edge(
  plan: Plan,
  type: GraphQLOutputType,
  tableName: string,
  rows: AnyTable,
  nodes: readonly FieldNode[],
  cursorOfRow: (rows: AnyTable) => SQL,
  rowObject: RowObject,
): SQL {
  const edgeType = getNamedType(type);
  if (!isObjectType(edgeType)) throw new Unsupported('an edge that is not an object');
  return jsonObject(
    [...plan.subfields(edgeType, nodes)].map(([key, fieldNodes]): [string, SQL] => {
      const name = fieldNodes[0]?.name.value;
      if (name === '__typename') return [key, text(edgeType.name)];
      const { def } = plan.fieldOf(edgeType, fieldNodes);
      if (name === 'cursor') return [key, cursorOfRow(rows)];
      if (name === 'node') return [key, rowObject(def.type, tableName, rows, fieldNodes)];
      throw new Unsupported(`${edgeType.name}.${name}`);
    }),
  );
}

/** A row's cursor in `scope`: the order's columns, formatted as the ordinary path formats them. */
export function cursorOf(scope: string, entries: { key: string }[], rows: AnyTable): SQL {
  return sql`gql_cursor(${scope}, ${sql.join(
    entries.map(({ key }) => rows[key] as Column),
    sql`, `,
  )})`;
}

/** The order's columns; it must end in the primary key, as every order of this schema does. */
function orderEntries(source: Source): { key: string; direction: Direction }[] {
  const entries = Object.entries(source.order).map(([key, direction]) => ({ key, direction }));
  const { key } = primaryKey(source.table);
  if (entries.at(-1)?.key !== key || entries.some((entry) => source.table[entry.key] === undefined)) {
    throw new Unsupported('an order without the primary key last');
  }
  return entries;
}

/** plugin-drizzle's page size: `first ?? last ?? default`, at most the maximum, never negative. */
function pageSize({ first, last }: PageArgs): number {
  const asked = first ?? last;
  if (asked != null && (!Number.isInteger(asked) || asked < 0)) throw new NotCompilable();
  return Math.min(asked ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}

/**
 * The values of a cursor this service wrote for this scope (a `T:` tuple, or one chunk for a
 * one-column order), or NotCompilable: a cursor the ordinary path would refuse or read
 * leniently (a shorter legacy tuple) is its to answer.
 */
function parseCursor(cursor: unknown, scope: string, entries: { key: string }[]): unknown[] {
  if (typeof cursor !== 'string' || cursor === '') throw new NotCompilable();
  let values: unknown[];
  try {
    const read = readCursor(cursor);
    const position = read?.scope === scope ? drizzleCursor(read.position) : null;
    if (!position) throw new NotCompilable();
    values =
      entries.length === 1 ? [position.value] : Array.isArray(position.value) && position.tuple ? position.value : [];
  } catch {
    throw new NotCompilable();
  }
  if (
    values.length !== entries.length ||
    !values.every((value) => typeof value === 'number' || typeof value === 'string')
  ) {
    throw new NotCompilable();
  }
  return values;
}

/** Rows after a position in the order: the first column that differs, differs the paging way. */
function keyset(parts: { column: Column; greater: boolean; value: SQL }[]): SQL {
  const uniform = parts.every((part) => part.greater === parts[0]?.greater);
  if (uniform && parts[0]) {
    // One row-value comparison: SQLite walks the order's index from the cursor.
    const columns = sql.join(
      parts.map((part) => sql`${part.column}`),
      sql`, `,
    );
    const values = sql.join(
      parts.map((part) => part.value),
      sql`, `,
    );
    return sql`(${columns}) ${sql.raw(parts[0].greater ? '>' : '<')} (${values})`;
  }
  return sql`(${sql.join(
    parts.map((part, i) => {
      const equal = parts.slice(0, i).map((previous) => sql`${previous.column} = ${previous.value} and `);
      return sql`(${sql.join(equal)}${part.column} ${sql.raw(part.greater ? '>' : '<')} ${part.value})`;
    }),
    sql` or `,
  )})`;
}
