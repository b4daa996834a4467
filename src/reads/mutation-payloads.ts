import { type Column, eq, type SQL, sql } from 'drizzle-orm';
import {
  type FieldNode,
  type GraphQLOutputType,
  getNullableType,
  isObjectType,
  type OperationDefinitionNode,
} from 'graphql';
import { cursorScope, nodeTypeOf } from '../schema/cursors.ts';
import { readSpecOf, type WrittenEdgeSpec } from '../schema/read-spec.ts';
import { cursorOf, edge, type Source } from './connections.ts';
import { Unsupported } from './fallback.ts';
import { jsonObject, text } from './json-text.ts';
import type { Plan } from './plan.ts';
import { oneRow, rowObjectOf } from './rows.ts';
import { hasScopes } from './schema-adapter.ts';
import { type AnyTable, primaryKey, relationsOf } from './tables.ts';

/**
 * A mutation of one root field whose payload holds the row it wrote (WrittenSpec) or its edge
 * (WrittenEdgeSpec): the payload read back by that row's id, as its resolver reads it after
 * the write. The write itself is the field's resolver's (src/http/mutation-lane.ts); a root
 * `__typename` or a second field is not planned.
 */
export function mutationRoot(plan: Plan, operation: OperationDefinitionNode): SQL {
  const mutationType = plan.schema.getMutationType();
  if (!mutationType) throw new Unsupported('no mutation type');
  const fields = [...plan.rootFields(mutationType, operation.selectionSet)];
  const [only] = fields;
  if (fields.length !== 1 || !only) throw new Unsupported('a mutation of other than one root field');
  const [key, nodes] = only;
  const def = nodes[0] && mutationType.getFields()[nodes[0].name.value];
  if (!def) throw new Unsupported('not a mutation field');
  const payload = getNullableType(def.type);
  if (!isObjectType(payload) || hasScopes(payload)) throw new Unsupported(`Mutation.${def.name}'s payload`);
  const written = plan.bind((run) => run.writtenId);
  const entries = [...plan.subfields(payload, nodes)].map(([memberKey, memberNodes]): [string, SQL] => {
    if (memberNodes[0]?.name.value === '__typename') return [memberKey, text(payload.name)];
    const { def: member } = plan.fieldOf(payload, memberNodes);
    const spec = readSpecOf(member);
    if ((spec?.kind !== 'written' && spec?.kind !== 'writtenEdge') || member.args.length) {
      throw new Unsupported(`${payload.name}.${member.name}`);
    }
    const { table } = relationsOf(spec.table);
    const { key: column } = primaryKey(table);
    const isWritten = (rows: AnyTable) => eq(rows[column] as Column, written);
    const value =
      spec.kind === 'written'
        ? oneRow(plan, member.type, memberNodes, spec.table, isWritten)
        : writtenEdge(plan, member.type, memberNodes, spec, isWritten);
    const rows = plan.alias(spec.table);
    // Gone already (deleted since): the resolver's NOT_FOUND, which the lane cannot give.
    return [
      memberKey,
      sql`case when exists (select 1 from ${plan.from(rows)} where ${isWritten(rows)}) then ${value} else gql_fallback() end`,
    ];
  });
  plan.write = { def, nodes, key };
  return jsonObject([[key, jsonObject(entries)]]);
}

/** The written row as an edge of the connections in the spec's order, its cursor as they give it. */
function writtenEdge(
  plan: Plan,
  type: GraphQLOutputType,
  nodes: readonly FieldNode[],
  spec: WrittenEdgeSpec,
  isWritten: Source['where'],
): SQL {
  const nodeType = nodeTypeOf(type);
  if (!nodeType) throw new Unsupported('an edge without a node');
  const scope = cursorScope(nodeType, spec.order);
  const entries = Object.keys(spec.order).map((key) => ({ key }));
  const rows = plan.alias(spec.table);
  const value = edge(plan, type, spec.table, rows, nodes, (of) => cursorOf(scope, entries, of), rowObjectOf(plan));
  return sql`(select ${value} from ${plan.from(rows)} where ${isWritten(rows) ?? sql`1`} limit 1)`;
}
