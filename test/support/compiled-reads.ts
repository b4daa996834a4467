import {
  type FragmentDefinitionNode,
  type GraphQLSchema,
  getOperationAST,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  parse,
} from 'graphql';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { boundValues, type CompiledRead, compileOperation } from '../../src/reads/compile.ts';
import { Unsupported } from '../../src/reads/fallback.ts';
import { registerReadFunctions } from '../../src/reads/sql-functions.ts';
import { schema } from '../../src/schema/index.ts';

/** A document compiled as the plugin compiles it: against the real schema, at its variables coerced. */
export interface Compiled {
  read: CompiledRead;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown>;
}

/** Compiles `text`'s one operation; throws what the compiler throws (Unsupported: left to Yoga). */
export function compile(
  text: string,
  variables: Record<string, unknown> = {},
  against: GraphQLSchema = schema,
): Compiled {
  const document = parse(text);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('not one operation');
  const coerced = getVariableValues(against, operation.variableDefinitions ?? [], variables);
  if (coerced.errors) throw new Error(coerced.errors.map((error) => error.message).join('; '));
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const node of document.definitions) {
    if (node.kind === Kind.FRAGMENT_DEFINITION) fragments[node.name.value] = node;
  }
  return {
    read: compileOperation(against, fragments, operation, coerced.coerced),
    operation,
    variables: coerced.coerced,
  };
}

/** Why the compiler leaves `text` to Yoga: its Unsupported's message (anything else thrown is thrown). */
export function refusal(
  text: string,
  variables: Record<string, unknown> = {},
  against: GraphQLSchema = schema,
): string {
  try {
    compile(text, variables, against);
  } catch (error) {
    if (error instanceof Unsupported) return error.message;
    throw error;
  }
  throw new Error(`compiled: ${text}`);
}

/** An in-memory database, migrated, with the functions compiled statements call. */
export function readDatabase(): Db {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  registerReadFunctions(db.$client);
  return db;
}

/**
 * A compiled read run as the plugin runs it (its checks, its bound values, the one statement),
 * its answer's `data` parsed; NotCompilable, when the request is the ordinary path's, is thrown.
 */
export function run(
  db: Db,
  { read, variables }: Compiled,
  at: { viewerId?: string; writtenId?: number } = {},
): Record<string, unknown> {
  const params = boundValues(read, variables, at.viewerId ?? null, at.writtenId ?? null);
  const json = db.$client.prepare(read.sql).pluck(true).get(params) as Buffer;
  return JSON.parse(json.toString()) as Record<string, unknown>;
}
