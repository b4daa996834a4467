import { type SQL, sql } from 'drizzle-orm';
import { type FieldNode, type GraphQLField, type GraphQLInterfaceType, getNullableType, isListType } from 'graphql';
import { decodeGlobalId, keyValue } from './arguments.ts';
import { NotCompilable, Unsupported } from './fallback.ts';
import { text } from './json-text.ts';
import type { Plan, RunState } from './plan.ts';
import { object } from './rows.ts';
import { hasScopes } from './schema-adapter.ts';
import { primaryKey, relationsOf, tableNameOf } from './tables.ts';

/** `node(id)` / `nodes(ids)`: one branch per type implementing Node, chosen by the id's type name. */
export function nodeField(
  plan: Plan,
  def: GraphQLField<unknown, unknown>,
  node: FieldNode,
  nodes: readonly FieldNode[],
  nodeInterface: GraphQLInterfaceType,
): SQL {
  const [arg] = def.args;
  if (def.args.length !== 1 || !arg) throw new Unsupported('a Node field with other arguments');
  const { at } = plan.argumentsOf(def, node);
  const types = plan.schema.getPossibleTypes(nodeInterface).map((type) => {
    const tableName = tableNameOf(type);
    if (!tableName || hasScopes(type)) throw new Unsupported(`${type.name} is not a drizzle node`);
    return { type, tableName, key: primaryKey(relationsOf(tableName).table) };
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
        const rows = plan.alias(tableName);
        return sql`when ${text(type.name)} then (select ${object(plan, type, rows, nodes)} from ${plan.from(rows)} where ${rows[key.key]} = ${id})`;
      }),
      sql` `,
    )} end`;
  if (isListType(getNullableType(arg.type))) {
    const ids = plan.bind((run) => {
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
  plan.checks.push((run) => {
    const value = at(run)[arg.name];
    return Array.isArray(value) ? value.map(decode) : decodedNow(run);
  });
  return branches(
    plan.bind((run) => decodedNow(run)[0]),
    plan.bind((run) => decodedNow(run)[1]),
  );
}
