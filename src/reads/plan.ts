import { getTableName, type SQL, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import {
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  getArgumentValues,
  type SelectionSetNode,
} from 'graphql';
import { Unsupported } from './fallback.ts';
import { type FieldsByKey, hasScopes, rootFields, type Selecting, subfields } from './schema-adapter.ts';
import { type AnyTable, relationsOf } from './tables.ts';

/** What a run knows: each argument-bearing field's argument values, who is asking, what was written. */
export interface RunState {
  args: Record<string, unknown>[];
  viewerId: string | null;
  /** A mutation's: the id of the row its resolver wrote. */
  writtenId: number | null;
}

export type Getter = (run: RunState) => unknown;

/** A mutation's one root field (its resolver writes), under its response key; the statement reads its payload. */
export interface RootWrite {
  def: GraphQLField<unknown, unknown>;
  nodes: readonly FieldNode[];
  key: string;
}

/**
 * One operation being compiled: what it selects (at these variables), and what its statement
 * needs at each run, gathered as the modules that compile its parts (root-fields.ts, rows.ts,
 * connections.ts, mutation-payloads.ts) build the SQL.
 */
export class Plan {
  /** The placeholders' values, `p0`, `p1`, … in the order they were bound. */
  readonly getters: Getter[] = [];
  /**
   * Run before the statement whatever it selects: the arguments the ordinary path always reads
   * (filters, page sizes, cursors, ids), so a value it would refuse sends the request to it.
   */
  readonly checks: Getter[] = [];
  /** The fields whose argument values the getters read, evaluated per run. */
  readonly argumentFields: { def: GraphQLField<unknown, unknown>; node: FieldNode }[] = [];
  write: RootWrite | undefined;
  private names = 0;
  private readonly sources = new WeakMap<AnyTable, SQL>();
  private readonly selecting: Selecting;

  constructor(
    readonly schema: GraphQLSchema,
    fragments: Record<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
  ) {
    this.selecting = { schema, fragments, variables };
  }

  /** A placeholder whose value `getter` gives at each run. */
  bind(getter: Getter): SQL {
    const name = `p${this.getters.length}`;
    this.getters.push(getter);
    return sql`${sql.placeholder(name)}`;
  }

  /** A fresh alias of a table: every subquery reads its own. */
  alias(tableName: string): AnyTable {
    const table = relationsOf(tableName).table;
    const name = `t${this.names++}`;
    const rows = alias(table, name) as unknown as AnyTable;
    this.sources.set(rows, sql`${sql.identifier(getTableName(table))} ${sql.identifier(name)}`);
    return rows;
  }

  /** A fresh name for a subquery's row. */
  rowName(): SQL {
    return sql.raw(`s${this.names++}`);
  }

  /** An alias as a FROM item: `"reviews" "t3"` (the alias alone would render as its name). */
  from(rows: AnyTable): SQL {
    const source = this.sources.get(rows);
    if (!source) throw new Error('an alias this compiler did not make');
    return source;
  }

  /** The field's arguments now (for the shape) and a slot to read them from at each run. */
  argumentsOf(def: GraphQLField<unknown, unknown>, node: FieldNode) {
    const slot = this.argumentFields.length;
    this.argumentFields.push({ def, node });
    const now = getArgumentValues(def, node, this.variables);
    const at = (run: RunState) => run.args[slot] as Record<string, unknown>;
    return { now, at };
  }

  rootFields(type: GraphQLObjectType, selectionSet: SelectionSetNode): FieldsByKey {
    return rootFields(this.selecting, type, selectionSet);
  }

  subfields(type: GraphQLObjectType, nodes: readonly FieldNode[]): FieldsByKey {
    return subfields(this.selecting, type, nodes);
  }

  /** The field the merged nodes select on `parent`; one with scopes is not planned. */
  fieldOf(parent: GraphQLObjectType, nodes: readonly FieldNode[]) {
    const [node] = nodes;
    if (!node) throw new Unsupported('no field');
    const def = parent.getFields()[node.name.value];
    if (!def) throw new Unsupported(`no field ${node.name.value}`);
    if (hasScopes(def)) throw new Unsupported(`${parent.name}.${def.name} has scopes`);
    return { node, def };
  }
}
