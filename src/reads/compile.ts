import { Placeholder, sql } from 'drizzle-orm';
import { SQLiteDialect } from 'drizzle-orm/sqlite-core';
import {
  BREAK,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  getArgumentValues,
  type OperationDefinitionNode,
  visit,
} from 'graphql';
import { Unsupported } from './fallback.ts';
import { mutationRoot } from './mutation-payloads.ts';
import { type Getter, Plan, type RootWrite, type RunState } from './plan.ts';
import { queryRoot } from './root-fields.ts';

/** The compiled form of one operation at one shape of its variables. */
export interface CompiledRead {
  sql: string;
  /** One per `?`, in order. */
  params: Getter[];
  /** Run before the statement whatever it selects (Plan.checks). */
  checks: Getter[];
  /** The fields whose argument values the getters read, evaluated per run. */
  argumentFields: { def: GraphQLField<unknown, unknown>; node: FieldNode }[];
  /** A mutation's one root field (its resolver writes), under its response key; the statement reads its payload. */
  write?: RootWrite;
}

const dialect = new SQLiteDialect();

/**
 * Compiles one operation into one SQLite statement whose single column is the response's `data`
 * as JSON text: a query's root fields (root-fields.ts, node-fields.ts), the rows they select
 * (rows.ts) and their connections (connections.ts), or a mutation's payload read back
 * (mutation-payloads.ts). Field meanings come from the built schema, read through
 * schema-adapter.ts, the read specs of src/schema/read-spec.ts, and the tables behind them in
 * `defineRelations`. Anything else throws Unsupported.
 */
export function compileOperation(
  schema: GraphQLSchema,
  fragments: Record<string, FragmentDefinitionNode>,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): CompiledRead {
  if ([operation, ...Object.values(fragments)].some(asksForParts)) throw new Unsupported('@defer or @stream');
  const plan = new Plan(schema, fragments, variables);
  const data = operation.operation === 'mutation' ? mutationRoot(plan, operation) : queryRoot(plan, operation);
  // As a blob, which SQLite casts without a copy: better-sqlite3 hands it over as one Buffer, written
  // to the socket as it is and freed by the next minor GC, where a string of several MB is
  // copied again to be sent and waits in the old generation for a full GC.
  const query = dialect.sqlToQuery(sql`select cast(${data} as blob)`);
  const params = query.params.map((param: unknown): Getter => {
    if (param instanceof Placeholder) {
      const getter = plan.getters[Number(param.name.slice(1))];
      if (!getter) throw new Error(`unbound placeholder ${param.name}`);
      return getter;
    }
    return () => param;
  });
  return {
    sql: query.sql,
    params,
    checks: plan.checks,
    argumentFields: plan.argumentFields,
    ...(plan.write && { write: plan.write }),
  };
}

/**
 * The values to bind for one request, its checks passed: NotCompilable (thrown) when its answer
 * would be an error, which the ordinary path gives.
 */
export function boundValues(
  read: CompiledRead,
  variables: Record<string, unknown>,
  viewerId: string | null,
  writtenId: number | null,
): unknown[] {
  const state: RunState = {
    args: read.argumentFields.map(({ def, node }) => getArgumentValues(def, node, variables)),
    viewerId,
    writtenId,
  };
  for (const check of read.checks) check(state);
  return read.params.map((param) => param(state));
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
