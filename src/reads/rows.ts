import { and, type Column, eq, type SQL, sql } from 'drizzle-orm';
import { type FieldNode, type GraphQLObjectType, type GraphQLOutputType, getNamedType, isObjectType } from 'graphql';
import { readSpecOf } from '../schema/read-spec.ts';
import { connection, type RowObject, type Source } from './connections.ts';
import { Unsupported } from './fallback.ts';
import { jsonObject, text } from './json-text.ts';
import type { Plan } from './plan.ts';
import { scalar } from './scalars.ts';
import { exposedColumnOf, hasScopes, implementsNode, isDrizzleRelation } from './schema-adapter.ts';
import { type AnyTable, columnOf, primaryKey, relationsOf, tableNameOf } from './tables.ts';

/**
 * Rows of the drizzle types as the JSON objects their selections ask for: exposed columns,
 * node ids, SQL extras, and plugin-drizzle's relations (one row, or a related connection).
 */

/** The first row of `tableName` that `where` keeps, as the object `type` its selection asks for. */
export function oneRow(
  plan: Plan,
  type: GraphQLOutputType,
  nodes: readonly FieldNode[],
  tableName: string,
  where: Source['where'],
): SQL {
  const objectType = drizzleType(type, tableName);
  const rows = plan.alias(tableName);
  return sql`(select ${object(plan, objectType, rows, nodes)} from ${plan.from(rows)} where ${where(rows) ?? sql`1`} limit 1)`;
}

/** How connections and edges write their rows: the type checked to be the table's, then as selected. */
export function rowObjectOf(plan: Plan): RowObject {
  return (type, tableName, rows, nodes) => object(plan, drizzleType(type, tableName), rows, nodes);
}

/** A row of a drizzle type as the JSON object its selection asks for. */
export function object(plan: Plan, type: GraphQLObjectType, rows: AnyTable, nodes: readonly FieldNode[]): SQL {
  const tableName = tableNameOf(type);
  if (!tableName) throw new Unsupported(`${type.name} has no table`);
  return jsonObject(
    [...plan.subfields(type, nodes)].map(([key, fieldNodes]) => [key, member(plan, type, tableName, rows, fieldNodes)]),
  );
}

function drizzleType(type: GraphQLOutputType, tableName: string): GraphQLObjectType {
  const named = getNamedType(type);
  if (!isObjectType(named) || tableNameOf(named) !== tableName || hasScopes(named)) {
    throw new Unsupported(`${named.name} is not the drizzle type of ${tableName}`);
  }
  return named;
}

function member(
  plan: Plan,
  type: GraphQLObjectType,
  tableName: string,
  rows: AnyTable,
  nodes: readonly FieldNode[],
): SQL {
  if (nodes[0]?.name.value === '__typename') return text(type.name);
  const { node, def } = plan.fieldOf(type, nodes);
  const spec = readSpecOf(def);
  const table = relationsOf(tableName);
  if (def.name === 'id' && implementsNode(type) && !def.args.length) {
    const key = primaryKey(table.table);
    return sql`gql_id(${text(type.name)}, ${rows[key.key]})`;
  }
  const exposed = exposedColumnOf(def);
  if (exposed !== undefined && !def.args.length) {
    const column = rows[exposed];
    if (!column) throw new Unsupported(`${type.name}.${def.name} exposes no column`);
    return scalar(def.type, sql`${column}`, column);
  }
  if (spec?.kind === 'extra' && !def.args.length) return scalar(def.type, spec.sql(rows as never));
  const relation = table.relations[spec?.kind === 'relatedConnection' ? spec.relation : def.name];
  if (!relation || relation.where || relation.through || !isDrizzleRelation(def)) {
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
    const { now, at } = plan.argumentsOf(def, node);
    const source: Source = {
      table: relationsOf(relation.targetTableName).table,
      tableName: relation.targetTableName,
      order: spec.order,
      where: on,
    };
    return connection(plan, getNamedType(def.type), nodes, source, now, at, rowObjectOf(plan));
  }
  if (relation.relationType !== 'one' || def.args.length) throw new Unsupported(`${type.name}.${def.name}`);
  return oneRow(plan, def.type, nodes, relation.targetTableName, on);
}
