import { createRequire } from 'node:module';
import { decodeBase64, decodeCursorChunk } from '@pothos/core';
import {
  and,
  type Column,
  eq,
  getColumns,
  getTableName,
  Placeholder,
  type Relation,
  type SQL,
  type SQLWrapper,
  sql,
} from 'drizzle-orm';
import { alias, SQLiteDialect, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import {
  BREAK,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInterfaceType,
  GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type OperationDefinitionNode,
  visit,
} from 'graphql';
import { relations } from '../db/relations.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/builder.ts';
import { cursorScope, nodeTypeOf, readCursor } from '../schema/cursors.ts';
import {
  type AggregateSpec,
  type ArgFilter,
  type Direction,
  type Ordering,
  type RowsSpec,
  readSpecOf,
  sqlWhere,
  type WrittenEdgeSpec,
} from '../schema/read-spec.ts';
import { NotCompilable } from './sql-functions.ts';

/**
 * graphql-js's own field collection (fragments, type conditions, @skip/@include), so fields merge
 * exactly as the executor merges them. Required: the package has no exports map, and its ESM copy
 * would be a second graphql instance.
 */
const { collectFields, collectSubfields } = createRequire(import.meta.url)(
  'graphql/execution/collectFields.js',
) as typeof import('graphql/execution/collectFields.js');

/** A document, or a part of it, that the compiler does not plan: it runs the ordinary way. */
export class Unsupported extends Error {}

/** What a run knows: each argument-bearing field's argument values, who is asking, what was written. */
export interface RunState {
  args: Record<string, unknown>[];
  viewerId: string | null;
  /** A mutation's: the id of the row its resolver wrote. */
  writtenId: number | null;
}

type Getter = (run: RunState) => unknown;

/** The compiled form of one operation at one shape of its variables. */
export interface CompiledRead {
  sql: string;
  /** One per `?`, in order. */
  params: Getter[];
  /**
   * Run before the statement whatever it selects: the arguments the ordinary path always reads
   * (filters, page sizes, cursors, ids), so a value it would refuse sends the request to it.
   */
  checks: Getter[];
  /** The fields whose argument values the getters read, evaluated per run. */
  argumentFields: { def: GraphQLField<unknown, unknown>; node: FieldNode }[];
  /** A mutation's one root field (its resolver writes), under its response key; the statement reads its payload. */
  write?: RootWrite;
}

export interface RootWrite {
  def: GraphQLField<unknown, unknown>;
  nodes: readonly FieldNode[];
  key: string;
}

type AnyTable = SQLiteTable & Record<string, Column>;
/** A table of `defineRelations`, read generically: its Drizzle table and its relations by name. */
interface TableRelations {
  table: SQLiteTable;
  relations: Record<string, Relation>;
}

const dialect = new SQLiteDialect();
const TRUE = sql.raw(`json('true')`);
const FALSE = sql.raw(`json('false')`);
const INT_RANGE = sql.raw('between -2147483648 and 2147483647');
/** The instants strftime writes exactly as Date#toISOString does (years 0000 to 9999). */
const MAX_PLAIN_INSTANT = 253_402_300_799_999;

/** A response key or type name: GraphQL names are `[_A-Za-z][_0-9A-Za-z]*`, safe as SQL text. */
const text = (name: string) => sql.raw(`'${name}'`);

/**
 * The answer is built as JSON text, which costs about a third less than SQLite's JSONB on the
 * page query (JSONB is converted at every level). Text is JSON to the function it reaches only
 * while it keeps SQLite's JSON subtype: a scalar subquery's value keeps it, a column of a
 * subquery in FROM does not (SQLite drops subtypes where it flattens one), so such a column is
 * marked again with json(). test/unit/json-subtype.test.ts holds SQLite to both.
 */
const jsonColumn = (column: SQL) => sql`json(${column})`;

function jsonObject(entries: [string, SQL][]): SQL {
  if (entries.length === 0) return sql.raw('json_object()');
  return sql`json_object(${sql.join(
    entries.map(([key, value]) => sql`${text(key)}, ${value}`),
    sql`, `,
  )})`;
}

function pothosOptions(owner: { extensions?: unknown }): Record<string, unknown> {
  return ((owner.extensions as Record<string, unknown> | undefined)?.pothosOptions ?? {}) as Record<string, unknown>;
}

/** Scopes decide per request and per row: the compiler has no way to honour them. */
function guarded(owner: { extensions?: unknown }): boolean {
  const options = pothosOptions(owner);
  return options.authScopes !== undefined || options.grantScopes !== undefined || options.skipTypeScopes !== undefined;
}

function tableNameOf(type: GraphQLObjectType): string | undefined {
  const model = (type.extensions as Record<string, unknown> | undefined)?.pothosDrizzleModel;
  return typeof model === 'string' && model in relations ? model : undefined;
}

function relationsOf(tableName: string): TableRelations {
  const table = (relations as unknown as Record<string, TableRelations>)[tableName];
  if (!table) throw new Unsupported(`no table ${tableName}`);
  return table;
}

function primaryKey(table: SQLiteTable): { key: string; column: Column } {
  const keys = Object.entries(getColumns(table)).filter(([, column]) => column.primary);
  const [only] = keys;
  if (keys.length !== 1 || !only) throw new Unsupported('a table without a single-column primary key');
  return { key: only[0], column: only[1] };
}

/** A global id's parts, exactly as the ordinary path would read them, or NotCompilable. */
function decodeGlobalId(value: unknown): { typename: string; id: string } {
  if (typeof value !== 'string') throw new NotCompilable();
  let decoded = decodedIds.get(value);
  if (decoded === undefined) {
    decoded = parsedGlobalId(value);
    // Short texts only, and a bounded number of them: a key is the client's.
    if (value.length <= MAX_REMEMBERED_ID_LENGTH) {
      if (decodedIds.size >= MAX_REMEMBERED_IDS) decodedIds.clear();
      decodedIds.set(value, decoded);
    }
  }
  if (decoded === null) throw new NotCompilable();
  return decoded;
}

/**
 * Ids decoded, by their text (null: not one this service writes). Decoding is pure, and the
 * requests of a page name the same few ids, each read by several checks and placeholders.
 */
const decodedIds = new Map<string, { typename: string; id: string } | null>();
const MAX_REMEMBERED_IDS = 1024;
const MAX_REMEMBERED_ID_LENGTH = 64;

function parsedGlobalId(value: string): { typename: string; id: string } | null {
  let decoded: string;
  try {
    decoded = decodeBase64(value);
  } catch {
    return null;
  }
  // Only ids that are exactly what this service writes: anything else takes the ordinary path.
  if (Buffer.from(decoded).toString('base64') !== value) return null;
  const colon = decoded.indexOf(':');
  const typename = decoded.slice(0, colon);
  const id = decoded.slice(colon + 1);
  if (colon < 1 || id === '' || id.includes(':') || !/^[A-Z_a-z]\w*$/.test(typename)) return null;
  return Object.freeze({ typename, id });
}

/** A row key as its column holds it: canonical positive integers for integer keys. */
function keyValue(column: Column, id: string): string | number {
  if (column.columnType === 'SQLiteText') return id;
  if (column.columnType === 'SQLiteInteger' && /^[1-9]\d{0,15}$/.test(id) && Number.isSafeInteger(Number(id))) {
    return Number(id);
  }
  throw new NotCompilable();
}

function unwrapList(type: GraphQLOutputType): GraphQLOutputType | undefined {
  const nullable = getNullableType(type);
  return isListType(nullable) ? nullable.ofType : undefined;
}

/** A connection's argument values at compile time: what they are decides the statement's shape. */
interface PageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

interface Source {
  table: AnyTable;
  tableName: string;
  order: Ordering;
  /** The rows' own filter (no cursors), over an alias of `table`. */
  where: (rows: AnyTable) => SQL | undefined;
}

/**
 * Compiles one query operation into one SQLite statement whose single column is the response's
 * `data` as JSON text. Field meanings come from the Pothos-built schema: exposed columns,
 * plugin-drizzle relations and node ids, the read specs of src/schema/read-spec.ts, and the
 * tables behind them in `defineRelations`. Anything else throws Unsupported.
 */
export function compileOperation(
  schema: GraphQLSchema,
  fragments: Record<string, FragmentDefinitionNode>,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): CompiledRead {
  if ([operation, ...Object.values(fragments)].some(asksForParts)) throw new Unsupported('@defer or @stream');
  const compiler = new Compiler(schema, fragments, variables);
  const data = compiler.root(operation);
  // As a blob, which SQLite casts without a copy: better-sqlite3 hands it over as one Buffer, written
  // to the socket as it is and freed by the next minor GC, where a string of several MB is
  // copied again to be sent and waits in the old generation for a full GC.
  const query = dialect.sqlToQuery(sql`select cast(${data} as blob)`);
  const params = query.params.map((param: unknown): Getter => {
    if (param instanceof Placeholder) {
      const getter = compiler.getters[Number(param.name.slice(1))];
      if (!getter) throw new Error(`unbound placeholder ${param.name}`);
      return getter;
    }
    return () => param;
  });
  return {
    sql: query.sql,
    params,
    checks: compiler.checks,
    argumentFields: compiler.argumentFields,
    ...(compiler.write && { write: compiler.write }),
  };
}

const INCREMENTAL = new Set(['defer', 'stream']);

/** `@defer` / `@stream`: an answer in parts, which ordinary execution gives (the statement is one answer). */
function asksForParts(definition: OperationDefinitionNode | FragmentDefinitionNode): boolean {
  let found = false;
  visit(definition, {
    Directive(directive) {
      if (INCREMENTAL.has(directive.name.value)) found = true;
      return found ? BREAK : undefined;
    },
  });
  return found;
}

class Compiler {
  readonly getters: Getter[] = [];
  readonly checks: Getter[] = [];
  readonly argumentFields: CompiledRead['argumentFields'] = [];
  write: RootWrite | undefined;
  private aliases = 0;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: Record<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
  ) {}

  root(operation: OperationDefinitionNode): SQL {
    if (operation.operation === 'mutation') return this.mutationRoot(operation);
    const queryType = this.schema.getQueryType();
    if (operation.operation !== 'query' || !queryType) throw new Unsupported('not a query');
    const fields = collectFields(this.schema, this.fragments, this.variables, queryType, operation.selectionSet);
    return jsonObject([...fields].map(([key, nodes]) => [key, this.rootField(queryType, nodes)]));
  }

  /**
   * A mutation of one root field whose payload holds the row it wrote (WrittenSpec) or its edge
   * (WrittenEdgeSpec): the payload read back by that row's id, as its resolver reads it after
   * the write. The write itself is the field's resolver's (src/http/mutation-lane.ts); a root
   * `__typename` or a second field is not planned.
   */
  private mutationRoot(operation: OperationDefinitionNode): SQL {
    const mutationType = this.schema.getMutationType();
    if (!mutationType) throw new Unsupported('no mutation type');
    const fields = [
      ...collectFields(this.schema, this.fragments, this.variables, mutationType, operation.selectionSet),
    ];
    const [only] = fields;
    if (fields.length !== 1 || !only) throw new Unsupported('a mutation of other than one root field');
    const [key, nodes] = only;
    const def = nodes[0] && mutationType.getFields()[nodes[0].name.value];
    if (!def) throw new Unsupported('not a mutation field');
    const payload = getNullableType(def.type);
    if (!isObjectType(payload) || guarded(payload)) throw new Unsupported(`Mutation.${def.name}'s payload`);
    const members = collectSubfields(this.schema, this.fragments, this.variables, payload, nodes);
    const written = this.bind((run) => run.writtenId);
    const entries = [...members].map(([memberKey, memberNodes]): [string, SQL] => {
      if (memberNodes[0]?.name.value === '__typename') return [memberKey, text(payload.name)];
      const { def: member } = this.fieldOf(payload, memberNodes);
      const spec = readSpecOf(member);
      if ((spec?.kind !== 'written' && spec?.kind !== 'writtenEdge') || member.args.length) {
        throw new Unsupported(`${payload.name}.${member.name}`);
      }
      const { table } = relationsOf(spec.table);
      const { key: column } = primaryKey(table);
      const isWritten = (rows: AnyTable) => eq(rows[column] as Column, written);
      const value =
        spec.kind === 'written'
          ? this.oneRow(member.type, memberNodes, spec.table, isWritten)
          : this.writtenEdge(member.type, memberNodes, spec, isWritten);
      const rows = this.alias(spec.table);
      // Gone already (deleted since): the resolver's NOT_FOUND, which the lane cannot give.
      return [
        memberKey,
        sql`case when exists (select 1 from ${this.from(rows)} where ${isWritten(rows)}) then ${value} else gql_fallback() end`,
      ];
    });
    this.write = { def, nodes, key };
    return jsonObject([[key, jsonObject(entries)]]);
  }

  /** The written row as an edge of the connections in the spec's order, its cursor as they give it. */
  private writtenEdge(
    type: GraphQLOutputType,
    nodes: readonly FieldNode[],
    spec: WrittenEdgeSpec,
    isWritten: Source['where'],
  ): SQL {
    const nodeType = nodeTypeOf(type);
    if (!nodeType) throw new Unsupported('an edge without a node');
    const scope = cursorScope(nodeType, spec.order);
    const entries = Object.keys(spec.order).map((key) => ({ key }));
    const rows = this.alias(spec.table);
    const edge = this.edge(type, spec.table, rows, nodes, (of) => this.cursorOf(scope, entries, of));
    return sql`(select ${edge} from ${this.from(rows)} where ${isWritten(rows) ?? sql`1`} limit 1)`;
  }

  private bind(getter: Getter): SQL {
    const name = `p${this.getters.length}`;
    this.getters.push(getter);
    return sql`${sql.placeholder(name)}`;
  }

  private readonly sources = new WeakMap<AnyTable, SQL>();

  private alias(tableName: string): AnyTable {
    const table = relationsOf(tableName).table;
    const name = `t${this.aliases++}`;
    const rows = alias(table, name) as unknown as AnyTable;
    this.sources.set(rows, sql`${sql.identifier(getTableName(table))} ${sql.identifier(name)}`);
    return rows;
  }

  /** An alias as a FROM item: `"reviews" "t3"` (the alias alone would render as its name). */
  private from(rows: AnyTable): SQL {
    const source = this.sources.get(rows);
    if (!source) throw new Error('an alias this compiler did not make');
    return source;
  }

  /** The field's arguments now (for the shape) and a slot to read them from at each run. */
  private argumentsOf(def: GraphQLField<unknown, unknown>, node: FieldNode) {
    const slot = this.argumentFields.length;
    this.argumentFields.push({ def, node });
    const now = getArgumentValues(def, node, this.variables);
    const at = (run: RunState) => run.args[slot] as Record<string, unknown>;
    return { now, at };
  }

  private fieldOf(parent: GraphQLObjectType, nodes: readonly FieldNode[]) {
    const [node] = nodes;
    if (!node) throw new Unsupported('no field');
    const def = parent.getFields()[node.name.value];
    if (!def) throw new Unsupported(`no field ${node.name.value}`);
    if (guarded(def)) throw new Unsupported(`${parent.name}.${def.name} has scopes`);
    return { node, def };
  }

  private rootField(queryType: GraphQLObjectType, nodes: readonly FieldNode[]): SQL {
    if (nodes[0]?.name.value === '__typename') return text(queryType.name);
    const { node, def } = this.fieldOf(queryType, nodes);
    const spec = readSpecOf(def);
    const named = getNamedType(def.type);
    if (isInterfaceType(named) && named.name === 'Node') return this.nodeField(def, node, nodes, named);
    if (spec?.kind === 'aggregate') return this.aggregate(def, node, nodes, spec);
    if (spec?.kind !== 'rows') throw new Unsupported(`Query.${def.name} has no read spec`);
    const { now, at } = this.argumentsOf(def, node);
    for (const [arg, filter] of Object.entries(spec.filters)) {
      if (now[arg] != null) this.checks.push((run) => this.filterValue(def, arg, filter, at(run)[arg]));
    }
    const table = relationsOf(spec.table).table as unknown as AnyTable;
    const where = (rows: AnyTable) =>
      and(
        sqlWhere(
          spec.filters,
          rows,
          (arg) => now[arg] != null,
          (arg, filter) => this.bind((run) => this.filterValue(def, arg, filter, at(run)[arg])),
        ),
        spec.viewerColumn
          ? eq(
              rows[spec.viewerColumn] as Column,
              this.bind((run) => run.viewerId),
            )
          : undefined,
      );
    const value = spec.order
      ? this.connection(named, nodes, { table, tableName: spec.table, order: spec.order(now), where }, now, at)
      : this.oneRow(named, nodes, spec.table, where);
    return spec.mustExist ? this.requireRow(spec.mustExist, def, at, value) : value;
  }

  /** An argument as its filter's column holds it; a value the resolver would refuse is NotCompilable. */
  private filterValue(def: GraphQLField<unknown, unknown>, arg: string, filter: ArgFilter, raw: unknown): unknown {
    const argDef = def.args.find((candidate) => candidate.name === arg);
    if (!argDef) throw new Unsupported(`no argument ${arg}`);
    const value = this.globalIdFor(argDef, raw);
    try {
      return filter.decode ? filter.decode(value as never) : value;
    } catch {
      throw new NotCompilable();
    }
  }

  /** A Relay global-id argument decoded as Pothos would (with its `for` types), others as given. */
  private globalIdFor(argDef: GraphQLArgument, raw: unknown): unknown {
    const extensions = (argDef.extensions ?? {}) as Record<string, unknown>;
    if (!extensions.isRelayGlobalID) {
      if (extensions['@pothos/plugin-validation'] !== undefined) throw new NotCompilable();
      return raw;
    }
    const decoded = decodeGlobalId(raw);
    const allowed = extensions.relayGlobalIDFor as { typename: string }[] | undefined;
    if (allowed && !allowed.some(({ typename }) => typename === decoded.typename)) throw new NotCompilable();
    return decoded;
  }

  private requireRow(
    rule: NonNullable<RowsSpec['mustExist']>,
    def: GraphQLField<unknown, unknown>,
    at: (run: RunState) => Record<string, unknown>,
    value: SQL,
  ): SQL {
    const rows = this.alias(rule.table);
    const key = this.bind((run) =>
      this.filterValue(def, rule.arg, { column: rule.column, decode: rowKey }, at(run)[rule.arg]),
    );
    // Missing: the ordinary path answers with its NOT_FOUND error.
    return sql`case when exists (select 1 from ${this.from(rows)} where ${rows[rule.column]} = ${key}) then ${value} else gql_fallback() end`;
  }

  private oneRow(type: GraphQLOutputType, nodes: readonly FieldNode[], tableName: string, where: Source['where']): SQL {
    const objectType = this.drizzleType(type, tableName);
    const rows = this.alias(tableName);
    return sql`(select ${this.object(objectType, rows, nodes)} from ${this.from(rows)} where ${where(rows) ?? sql`1`} limit 1)`;
  }

  private drizzleType(type: GraphQLOutputType, tableName: string): GraphQLObjectType {
    const named = getNamedType(type);
    if (!isObjectType(named) || tableNameOf(named) !== tableName || guarded(named)) {
      throw new Unsupported(`${named.name} is not the drizzle type of ${tableName}`);
    }
    return named;
  }

  /** `node(id)` / `nodes(ids)`: one branch per type implementing Node, chosen by the id's type name. */
  private nodeField(
    def: GraphQLField<unknown, unknown>,
    node: FieldNode,
    nodes: readonly FieldNode[],
    nodeInterface: GraphQLInterfaceType,
  ): SQL {
    const [arg] = def.args;
    if (def.args.length !== 1 || !arg) throw new Unsupported('a Node field with other arguments');
    const { at } = this.argumentsOf(def, node);
    const types = this.schema.getPossibleTypes(nodeInterface).map((type) => {
      const tableName = tableNameOf(type);
      if (!tableName || guarded(type)) throw new Unsupported(`${type.name} is not a drizzle node`);
      return { type, tableName, key: primaryKey(relationsOf(tableName).table as SQLiteTable) };
    });
    const decode = (raw: unknown): [string, string | number] => {
      const { typename, id } = decodeGlobalId(raw);
      const match = types.find(({ type }) => type.name === typename);
      if (!match) throw new NotCompilable();
      return [typename, keyValue(match.key.column, id)];
    };
    const branches = (typename: SQL, id: SQL) =>
      sql`case ${typename} ${sql.join(
        types.map(({ type, tableName, key }) => {
          const rows = this.alias(tableName);
          return sql`when ${text(type.name)} then (select ${this.object(type, rows, nodes)} from ${this.from(rows)} where ${rows[key.key]} = ${id})`;
        }),
        sql` `,
      )} end`;
    if (isListType(getNullableType(arg.type))) {
      const ids = this.bind((run) => {
        const list = at(run)[arg.name];
        if (!Array.isArray(list)) throw new NotCompilable();
        return JSON.stringify(list.map(decode));
      });
      return sql`(select json_group_array(${branches(sql`j.value ->> 0`, sql`j.value ->> 1`)} order by j.key) from json_each(${ids}) j)`;
    }
    // Decoded once per run: the check and both placeholders read it (a run is synchronous).
    let last: { run: RunState; decoded: [string, string | number] } | undefined;
    const decodedNow = (run: RunState) => {
      if (last?.run !== run) last = { run, decoded: decode(at(run)[arg.name]) };
      return last.decoded;
    };
    this.checks.push((run) => {
      const value = at(run)[arg.name];
      return Array.isArray(value) ? value.map(decode) : decodedNow(run);
    });
    return branches(
      this.bind((run) => decodedNow(run)[0]),
      this.bind((run) => decodedNow(run)[1]),
    );
  }

  /** A field answered from one row of SQL, each of its type's exposed fields one column of it. */
  private aggregate(
    def: GraphQLField<unknown, unknown>,
    node: FieldNode,
    nodes: readonly FieldNode[],
    spec: AggregateSpec,
  ): SQL {
    const type = getNamedType(def.type);
    if (!(type instanceof GraphQLObjectType)) throw new Unsupported('an aggregate of a non-object type');
    const { at } = this.argumentsOf(def, node);
    const args = Object.fromEntries(
      def.args.map((arg): [string, SQLWrapper] => {
        if (!isNonNullType(arg.type)) throw new Unsupported('an optional aggregate argument');
        return [arg.name, this.bind((run) => this.globalIdFor(arg, at(run)[arg.name]))];
      }),
    );
    const row = sql.raw(`s${this.aliases++}`);
    const fields = collectSubfields(this.schema, this.fragments, this.variables, type, nodes);
    const entries = [...fields].map(([key, fieldNodes]): [string, SQL] => {
      if (fieldNodes[0]?.name.value === '__typename') return [key, text(type.name)];
      const { def: field } = this.fieldOf(type, fieldNodes);
      const exposed = (field.extensions as Record<string, unknown> | undefined)?.pothosExposedField;
      if (typeof exposed !== 'string' || field.args.length) throw new Unsupported(`${type.name}.${field.name}`);
      return [key, this.scalar(field.type, sql`${row}.${sql.identifier(exposed)}`)];
    });
    return sql`(select ${jsonObject(entries)} from (${spec.row(args)}) ${row})`;
  }

  /** A scalar value in the JSON JavaScript would write for it. */
  private scalar(type: GraphQLOutputType, value: SQL, column?: Column): SQL {
    const item = unwrapList(type);
    if (item) {
      if (getNamedType(item).name !== 'Int' || column) throw new Unsupported('a list other than a JSON [Int]');
      return sql`json(${value})`;
    }
    const named = getNamedType(type);
    if (!isScalarType(named)) throw new Unsupported(`${named.name} is not a scalar`);
    const stored = column?.columnType;
    switch (named.name) {
      case 'String':
        if (column && stored !== 'SQLiteText') break;
        return value;
      case 'Int':
        if (column && stored !== 'SQLiteInteger') break;
        // GraphQL refuses an Int beyond 32 bits: that error is the ordinary path's to give. A
        // column is cheap to read twice; an expression (a count) is checked once, in JavaScript.
        return column
          ? sql`case when ${value} ${INT_RANGE} then ${value} else gql_fallback() end`
          : sql`gql_int(${value})`;
      case 'Float':
        if (column) break;
        return sql`json(gql_float(${value}))`;
      case 'DateTime':
        if (column && stored !== 'SQLiteInteger') break;
        return sql`case when typeof(${value}) = 'integer' and ${value} between 0 and ${sql.raw(String(MAX_PLAIN_INSTANT))}
          then strftime('%Y-%m-%dT%H:%M:%S', ${value} / 1000, 'unixepoch') || printf('.%03dZ', ${value} % 1000)
          else gql_datetime(${value}) end`;
    }
    throw new Unsupported(`scalar ${named.name}`);
  }

  /** A row of a drizzle type as the JSON object its selection asks for. */
  private object(type: GraphQLObjectType, rows: AnyTable, nodes: readonly FieldNode[]): SQL {
    const tableName = tableNameOf(type);
    if (!tableName) throw new Unsupported(`${type.name} has no table`);
    const fields = collectSubfields(this.schema, this.fragments, this.variables, type, nodes);
    return jsonObject([...fields].map(([key, fieldNodes]) => [key, this.member(type, tableName, rows, fieldNodes)]));
  }

  private member(type: GraphQLObjectType, tableName: string, rows: AnyTable, nodes: readonly FieldNode[]): SQL {
    if (nodes[0]?.name.value === '__typename') return text(type.name);
    const { node, def } = this.fieldOf(type, nodes);
    const extensions = (def.extensions ?? {}) as Record<string, unknown>;
    const spec = readSpecOf(def);
    const table = relationsOf(tableName);
    if (def.name === 'id' && type.getInterfaces().some((i) => i.name === 'Node') && !def.args.length) {
      const key = primaryKey(table.table as SQLiteTable);
      return sql`gql_id(${text(type.name)}, ${rows[key.key]})`;
    }
    if (typeof extensions.pothosExposedField === 'string' && !def.args.length) {
      const column = rows[extensions.pothosExposedField];
      if (!column) throw new Unsupported(`${type.name}.${def.name} exposes no column`);
      return this.scalar(def.type, sql`${column}`, column);
    }
    if (spec?.kind === 'extra' && !def.args.length) return this.scalar(def.type, spec.sql(rows as never));
    const relation = table.relations[spec?.kind === 'relatedConnection' ? spec.relation : def.name];
    if (!relation || relation.where || relation.through || extensions.pothosDrizzleLoaded === undefined) {
      throw new Unsupported(`${type.name}.${def.name} is not a plain relation`);
    }
    const on = (target: AnyTable) =>
      and(
        ...relation.targetColumns.map((column: Column, i: number) => {
          const source = relation.sourceColumns[i];
          if (!source) throw new Unsupported('a relation with unmatched columns');
          return eq(columnOf(target, column), columnOf(rows, source));
        }),
      );
    if (spec?.kind === 'relatedConnection') {
      const { now, at } = this.argumentsOf(def, node);
      const source: Source = {
        table: relationsOf(relation.targetTableName).table as unknown as AnyTable,
        tableName: relation.targetTableName,
        order: spec.order,
        where: on,
      };
      return this.connection(getNamedType(def.type), nodes, source, now, at);
    }
    if (relation.relationType !== 'one' || def.args.length) throw new Unsupported(`${type.name}.${def.name}`);
    return this.oneRow(def.type, nodes, relation.targetTableName, on);
  }

  /**
   * A cursor connection as plugin-drizzle answers it: rows past `after` / before `before` in the
   * order (inverted for `last`), one row more than the page to learn whether more exist,
   * cursors of the order's columns, totalCount over the filter alone.
   */
  private connection(
    type: GraphQLOutputType,
    nodes: readonly FieldNode[],
    source: Source,
    now: PageArgs,
    at: (run: RunState) => Record<string, unknown>,
  ): SQL {
    const connectionType = getNamedType(type);
    if (!isObjectType(connectionType)) throw new Unsupported('a connection that is not an object');
    if (now.first != null && now.last != null) throw new Unsupported('first and last together');
    const backward = now.first == null && now.last != null;
    const entries = this.orderEntries(source);
    const nodeType = nodeTypeOf(connectionType);
    if (!nodeType) throw new Unsupported('a connection without edges of nodes');
    const scope = cursorScope(nodeType, source.order);
    const size = this.bind((run) => pageSize(at(run) as PageArgs));
    this.checks.push((run) => pageSize(at(run) as PageArgs));
    for (const paging of ['after', 'before'] as const) {
      if (now[paging] != null) this.checks.push((run) => parseCursor(at(run)[paging], scope, entries));
    }
    const cursorPart = (paging: 'after' | 'before', index: number) =>
      this.bind((run) => parseCursor(at(run)[paging], scope, entries)[index]);
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
    const cursorOf = (rows: AnyTable) => this.cursorOf(scope, entries, rows);
    /** The page's rows, each as `value`, with its order columns for putting them in output order. */
    const pageRows = (value: (rows: AnyTable) => SQL) => {
      const rows = this.alias(source.tableName);
      const orderColumns = entries.map(({ key }, i) => sql`${rows[key]} as ${positions[i]}`);
      return sql`select ${value(rows)} as v, ${sql.join(orderColumns, sql`, `)} from ${this.from(rows)}
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
        ? sql`(select v from (${pageRows(cursorOf)}) limit 1)`
        : sql`(select v from (${pageRows(cursorOf)}) order by ${outputOrder(last)} limit 1)`;
    const more = () => {
      const rows = this.alias(source.tableName);
      return sql`case when exists (select 1 from ${this.from(rows)} where ${page(rows) ?? sql`1`}
        order by ${fetchOrder(rows, backward)} limit 1 offset ${size}) then ${TRUE} else ${FALSE} end`;
    };
    const pageInfo = (pageInfoNodes: readonly FieldNode[], pageInfoType: GraphQLOutputType): SQL => {
      const infoType = getNamedType(pageInfoType);
      if (!isObjectType(infoType)) throw new Unsupported('pageInfo');
      const fields = collectSubfields(this.schema, this.fragments, this.variables, infoType, pageInfoNodes);
      return jsonObject(
        [...fields].map(([key, fieldNodes]): [string, SQL] => {
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
    const fields = collectSubfields(this.schema, this.fragments, this.variables, connectionType, nodes);
    return jsonObject(
      [...fields].map(([key, fieldNodes]): [string, SQL] => {
        const name = fieldNodes[0]?.name.value;
        if (name === '__typename') return [key, text(connectionType.name)];
        const { def } = this.fieldOf(connectionType, fieldNodes);
        switch (name) {
          case 'totalCount': {
            const rows = this.alias(source.tableName);
            return [key, sql`(select count(*) from ${this.from(rows)} where ${source.where(rows) ?? sql`1`})`];
          }
          case 'nodes': {
            const nodeType = this.drizzleType(def.type, source.tableName);
            return [key, list((rows) => this.object(nodeType, rows, fieldNodes))];
          }
          case 'pageInfo':
            return [key, pageInfo(fieldNodes, def.type)];
          case 'edges':
            return [key, list((rows) => this.edge(def.type, source.tableName, rows, fieldNodes, cursorOf))];
        }
        throw new Unsupported(`${connectionType.name}.${name}`);
      }),
    );
  }

  private edge(
    type: GraphQLOutputType,
    tableName: string,
    rows: AnyTable,
    nodes: readonly FieldNode[],
    cursorOf: (rows: AnyTable) => SQL,
  ): SQL {
    const edgeType = getNamedType(type);
    if (!isObjectType(edgeType)) throw new Unsupported('an edge that is not an object');
    const fields = collectSubfields(this.schema, this.fragments, this.variables, edgeType, nodes);
    return jsonObject(
      [...fields].map(([key, fieldNodes]): [string, SQL] => {
        const name = fieldNodes[0]?.name.value;
        if (name === '__typename') return [key, text(edgeType.name)];
        const { def } = this.fieldOf(edgeType, fieldNodes);
        if (name === 'cursor') return [key, cursorOf(rows)];
        if (name === 'node') return [key, this.object(this.drizzleType(def.type, tableName), rows, fieldNodes)];
        throw new Unsupported(`${edgeType.name}.${name}`);
      }),
    );
  }

  /** A row's cursor in `scope`: the order's columns, formatted as the ordinary path formats them. */
  private cursorOf(scope: string, entries: { key: string }[], rows: AnyTable): SQL {
    return sql`gql_cursor(${scope}, ${sql.join(
      entries.map(({ key }) => rows[key] as Column),
      sql`, `,
    )})`;
  }

  /** The order's columns; it must end in the primary key, as every order of this schema does. */
  private orderEntries(source: Source): { key: string; direction: Direction }[] {
    const entries = Object.entries(source.order).map(([key, direction]) => ({ key, direction }));
    const { key } = primaryKey(source.table);
    if (entries.at(-1)?.key !== key || entries.some((entry) => source.table[entry.key] === undefined)) {
      throw new Unsupported('an order without the primary key last');
    }
    return entries;
  }
}

function columnOf(rows: AnyTable, column: Column): Column {
  // The relation names the table's own column; the alias has the same one under the same key.
  const match = Object.entries(getColumns(rows)).find(([, candidate]) => candidate.name === column.name);
  const aliased = match && rows[match[0]];
  if (!aliased) throw new Unsupported(`no column ${column.name}`);
  return aliased;
}

/** A decoded key argument (`{ id, typename }`) as its row id; see rowId in src/schema/ids.ts. */
function rowKey(value: { id: string }): number {
  if (!/^[1-9]\d{0,15}$/.test(value.id) || !Number.isSafeInteger(Number(value.id))) throw new NotCompilable();
  return Number(value.id);
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
    if (read?.scope !== scope || !read.position.startsWith('DC:')) throw new NotCompilable();
    const chunk = read.position.slice(3);
    const parsed = decodeCursorChunk(chunk);
    values = entries.length === 1 ? [parsed] : Array.isArray(parsed) && chunk.startsWith('T:') ? parsed : [];
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
