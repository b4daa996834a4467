import { and, type Column, eq, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import {
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  getNamedType,
  isNonNullType,
  isObjectType,
  type OperationDefinitionNode,
} from 'graphql';
import { type AggregateSpec, type RowsSpec, readSpecOf, sqlWhere } from '../schema/read-spec.ts';
import { argumentDecoder, filterDecoder, rowKey } from './arguments.ts';
import { connection } from './connections.ts';
import { Unsupported } from './fallback.ts';
import { jsonObject, text } from './json-text.ts';
import { nodeField } from './node-fields.ts';
import type { Plan, RunState } from './plan.ts';
import { oneRow, rowObjectOf } from './rows.ts';
import { scalar } from './scalars.ts';
import { exposedColumnOf, isNodeInterface } from './schema-adapter.ts';
import { type AnyTable, relationsOf } from './tables.ts';

/**
 * A query's root fields: `node`/`nodes`, aggregates, and the fields whose read spec (rows) their
 * resolvers share: one row, or a connection, with the spec's filters, viewer and must-exist rule.
 */
export function queryRoot(plan: Plan, operation: OperationDefinitionNode): SQL {
  const queryType = plan.schema.getQueryType();
  if (operation.operation !== 'query' || !queryType) throw new Unsupported('not a query');
  return jsonObject(
    [...plan.rootFields(queryType, operation.selectionSet)].map(([key, nodes]) => [
      key,
      rootField(plan, queryType, nodes),
    ]),
  );
}

function rootField(plan: Plan, queryType: GraphQLObjectType, nodes: readonly FieldNode[]): SQL {
  if (nodes[0]?.name.value === '__typename') return text(queryType.name);
  const { node, def } = plan.fieldOf(queryType, nodes);
  const spec = readSpecOf(def);
  const named = getNamedType(def.type);
  if (isNodeInterface(named)) return nodeField(plan, def, node, nodes, named);
  if (spec?.kind === 'aggregate') return aggregate(plan, def, node, nodes, spec);
  if (spec?.kind !== 'rows') throw new Unsupported(`Query.${def.name} has no read spec`);
  const { now, at } = plan.argumentsOf(def, node);
  const filters = new Map<string, (raw: unknown) => unknown>();
  for (const [arg, filter] of Object.entries(spec.filters)) {
    if (now[arg] == null) continue;
    const decode = filterDecoder(def, arg, filter);
    filters.set(arg, decode);
    plan.checks.push((run) => decode(at(run)[arg]));
  }
  const table = relationsOf(spec.table).table;
  const where = (rows: AnyTable) =>
    and(
      sqlWhere(
        spec.filters,
        rows,
        (arg) => filters.has(arg),
        (arg) => {
          const decode = filters.get(arg) as (raw: unknown) => unknown;
          return plan.bind((run) => decode(at(run)[arg]));
        },
      ),
      spec.viewerColumn
        ? eq(
            rows[spec.viewerColumn] as Column,
            plan.bind((run) => run.viewerId),
          )
        : undefined,
    );
  const value = spec.order
    ? connection(
        plan,
        named,
        nodes,
        { table, tableName: spec.table, order: spec.order(now), where },
        now,
        at,
        rowObjectOf(plan),
      )
    : oneRow(plan, named, nodes, spec.table, where);
  return spec.mustExist ? requireRow(plan, spec.mustExist, def, at, value) : value;
}

/** `value` if the row the argument names exists; otherwise the ordinary path answers with its NOT_FOUND error. */
function requireRow(
  plan: Plan,
  rule: NonNullable<RowsSpec['mustExist']>,
  def: GraphQLField<unknown, unknown>,
  at: (run: RunState) => Record<string, unknown>,
  value: SQL,
): SQL {
  const rows = plan.alias(rule.table);
  const decode = filterDecoder(def, rule.arg, { column: rule.column, decode: rowKey });
  const key = plan.bind((run) => decode(at(run)[rule.arg]));
  return sql`case when exists (select 1 from ${plan.from(rows)} where ${rows[rule.column]} = ${key}) then ${value} else gql_fallback() end`;
}

/** A field answered from one row of SQL, each of its type's exposed fields one column of it. */
function aggregate(
  plan: Plan,
  def: GraphQLField<unknown, unknown>,
  node: FieldNode,
  nodes: readonly FieldNode[],
  spec: AggregateSpec,
): SQL {
  const type = getNamedType(def.type);
  if (!isObjectType(type)) throw new Unsupported('an aggregate of a non-object type');
  const { at } = plan.argumentsOf(def, node);
  const args = Object.fromEntries(
    def.args.map((arg): [string, SQLWrapper] => {
      if (!isNonNullType(arg.type)) throw new Unsupported('an optional aggregate argument');
      const decode = argumentDecoder(arg);
      return [arg.name, plan.bind((run) => decode(at(run)[arg.name]))];
    }),
  );
  const row = plan.rowName();
  const entries = [...plan.subfields(type, nodes)].map(([key, fieldNodes]): [string, SQL] => {
    if (fieldNodes[0]?.name.value === '__typename') return [key, text(type.name)];
    const { def: field } = plan.fieldOf(type, fieldNodes);
    const exposed = exposedColumnOf(field);
    if (exposed === undefined || field.args.length) throw new Unsupported(`${type.name}.${field.name}`);
    return [key, scalar(field.type, sql`${row}.${sql.identifier(exposed)}`)];
  });
  return sql`(select ${jsonObject(entries)} from (${spec.row(args)}) ${row})`;
}
