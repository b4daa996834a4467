import Database, { type Statement } from 'better-sqlite3';
import type { Logger as SqlLogger } from 'drizzle-orm';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isEnumType,
  Kind,
  type OperationDefinitionNode,
  typeFromAST,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, type Registry } from 'prom-client';
import type { Viewer } from '../auth.ts';
import { BoundedCache } from '../bounded-cache.ts';
import type { Context } from '../context.ts';
import type { Db } from '../db/client.ts';
import { MAX_REMEMBERED_DOCUMENT_LENGTH } from '../document-cache.ts';
import type { Logger } from '../logger.ts';
import { boundValues, type CompiledRead, compileOperation } from './compile.ts';
import { NotCompilable, Unsupported } from './fallback.ts';
import type { RootWrite } from './plan.ts';
import { registerReadFunctions } from './sql-functions.ts';

/** Plans kept: more distinct documents than a real client set sends, few enough to stay small. */
const MAX_PLANS = 1000;
/** An estimate of the plans' memory (SQL text, statement, getters), bounded whatever the documents. */
const MAX_PLAN_BYTES = 16 * 1024 * 1024;

export interface FastReadsOptions {
  db: Db;
  /** Receives every statement run, as Drizzle's logger does for the ordinary path (tests count them). */
  sqlLogger?: SqlLogger;
  registry?: Registry;
  logger?: Logger;
  maxPlans?: number;
  maxPlanBytes?: number;
}

interface Plan {
  read: CompiledRead;
  statement: Statement;
}

/** A document's operation (by name) and the variables whose values shape its statement. */
interface Operation {
  /** Unique in this process: the plans' key begins with it. */
  id: number;
  /** Its document's text length. */
  length: number;
  definition: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
  /**
   * The declared variables in declaration order, as one JSON array: booleans (for @skip/@include)
   * and enums by value, everything else by whether it is null.
   */
  shapeOf: (variables: Record<string, unknown>) => string;
}

export type ReadPath = 'compiled' | 'ordinary';

/** A known mutation as the lane runs it: its root field, and the statement reading its payload back. */
export interface PlannedWrite {
  operation: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
  field: RootWrite;
  /** The request's variables, coerced. */
  variables: Record<string, unknown>;
  /** The answer's `data` as JSON text, read back once the resolver wrote `rowId`; null if it cannot be. */
  readBack(rowId: number, viewer: Viewer | null): string | null;
}

/** A known document's entry in the fast lane's table, beside its text (the node is Yoga's, cached anyway). */
const KNOWN_ENTRY_BYTES = 256;

export type FastReads = Plugin<Context> & {
  plans: BoundedCache<Plan | null>;
  known(text: string): DocumentNode | undefined;
  answer(
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown>,
    viewer: Viewer | null,
  ): { json: Buffer; operation: OperationDefinitionNode } | null;
  /** A known mutation the lane may run, or null: Yoga runs it (src/http/mutation-lane.ts). */
  write(
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown>,
  ): PlannedWrite | null;
  /** Counts an answer the lane sent, as the plugin counts its own. */
  laneAnswered(operationName: string | null | undefined, operation: OperationDefinitionNode): void;
};

/**
 * FAST_READS=on: each query document is compiled once (per shape of its variables) into one
 * prepared SQLite statement that returns the response's JSON, and run by binding its values.
 * It replaces execution only: parsing, validation, the document and cost limits have already
 * run. A document it cannot plan, or a request whose answer would be an error (a malformed
 * id, a missing review), runs the ordinary way, which gives exactly today's answer.
 */
export function useFastReads(options: FastReadsOptions): FastReads {
  const sqlite = options.db.$client;
  registerReadFunctions(sqlite);
  const plans = new BoundedCache<Plan | null>(options.maxPlans ?? MAX_PLANS, options.maxPlanBytes ?? MAX_PLAN_BYTES);
  // Texts of documents that ran compiled, to the document Yoga made of them: as many as the plans.
  const known = new BoundedCache<DocumentNode>(options.maxPlans ?? MAX_PLANS, options.maxPlanBytes ?? MAX_PLAN_BYTES);
  const remember = (text: string, document: DocumentNode) =>
    known.set(text, document, text.length * 2 + KNOWN_ENTRY_BYTES);
  let described = 0;
  // By the name as asked: `null` (the document's only operation) is not `""` (no such operation).
  const operations = new WeakMap<DocumentNode, Map<string | null, Operation | null>>();
  const paths = new Counter({
    name: 'reviews_api_read_path_total',
    help: 'GraphQL operations by how they ran: a compiled statement, or ordinary execution',
    labelNames: ['path'],
    registers: options.registry ? [options.registry] : [],
  });
  const writePaths = new Counter({
    name: 'reviews_api_write_path_total',
    help: 'GraphQL mutations by how they ran: in the fast lane, or through Yoga',
    labelNames: ['path'],
    registers: options.registry ? [options.registry] : [],
  });

  const operationOf = (schema: GraphQLSchema, document: DocumentNode, name: string | null | undefined) => {
    let byName = operations.get(document);
    if (!byName) {
      byName = new Map();
      operations.set(document, byName);
    }
    const key = name ?? null;
    if (!byName.has(key)) {
      // A name the document has no operation of is not remembered: a client's every guess would be.
      const definition = getOperationAST(document, name);
      if (!definition) return null;
      byName.set(key, describeOperation(schema, document, definition, ++described));
    }
    return byName.get(key) ?? null;
  };

  const planOf = (schema: GraphQLSchema, operation: Operation, variables: Record<string, unknown>): Plan | null => {
    // Never compiled (nor remembered): one long literal cost 0.5-1 s of CPU to compile.
    if (operation.length > MAX_REMEMBERED_DOCUMENT_LENGTH) return null;
    // The operation (one document's, by the name asked), then the shape of its declared variables.
    const key = `${operation.id}:${operation.shapeOf(variables)}`;
    const cached = plans.get(key);
    if (cached !== undefined) return cached;
    const started = performance.now();
    let plan: Plan | null = null;
    try {
      const read = compileOperation(schema, operation.fragments, operation.definition, variables);
      // Past the connection's statement cache: a flood of documents must not evict the app's own statements.
      // Its one column is the answer's JSON: plucked, set once here rather than on every run.
      plan = { read, statement: (Database.prototype.prepare.call(sqlite, read.sql) as Statement).pluck(true) };
    } catch (error) {
      if (!(error instanceof Unsupported)) options.logger?.warn({ err: error }, 'a read could not be compiled');
      else options.logger?.debug({ reason: error.message }, 'read not compiled');
    }
    const bytes = plan ? 2048 + plan.read.sql.length * 4 : 256;
    plans.set(key, plan, bytes);
    options.logger?.debug({ compileMs: performance.now() - started, compiled: plan !== null }, 'read planned');
    return plan;
  };

  const run = (
    plan: Plan,
    variables: Record<string, unknown>,
    viewer: Viewer | null,
    writtenId: number | null = null,
  ): Buffer | null => {
    try {
      const params = boundValues(plan.read, variables, viewer?.id ?? null, writtenId);
      options.sqlLogger?.logQuery(plan.read.sql, params);
      return plan.statement.get(params) as Buffer;
    } catch (error) {
      if (!(error instanceof NotCompilable)) options.logger?.warn({ err: error }, 'a compiled read failed');
      return null;
    }
  };

  /** `lane`: answered by the fast lane (src/http/fast-lane.ts) rather than through Yoga. */
  const took = (path: ReadPath, operationName: string | null | undefined, lane: boolean) => {
    paths.inc({ path });
    options.logger?.debug({ operation: operationName ?? null, path, lane }, 'read path');
  };
  const wrote = (operationName: string | null | undefined, lane: boolean) => {
    const path = lane ? 'lane' : 'ordinary';
    writePaths.inc({ path });
    options.logger?.debug({ operation: operationName ?? null, path, lane }, 'write path');
  };

  const write = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown>,
  ): PlannedWrite | null => {
    const operation = operationOf(schema, document, operationName);
    if (operation?.definition.operation !== 'mutation') return null;
    const coerced = getVariableValues(schema, operation.definition.variableDefinitions ?? [], variables);
    if (coerced.errors) return null;
    const plan = planOf(schema, operation, coerced.coerced);
    if (!plan?.read.write) return null;
    return {
      operation: operation.definition,
      fragments: operation.fragments,
      field: plan.read.write,
      variables: coerced.coerced,
      readBack: (rowId, viewer) => run(plan, coerced.coerced, viewer, rowId)?.toString() ?? null,
    };
  };

  /** The answer's JSON (UTF-8) from a compiled statement, or null for the ordinary path. */
  const compiled = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown>,
    viewer: Viewer | null,
  ): { json: Buffer; operation: OperationDefinitionNode } | null => {
    const operation = operationOf(schema, document, operationName);
    if (operation?.definition.operation !== 'query') return null;
    const coerced = getVariableValues(schema, operation.definition.variableDefinitions ?? [], variables);
    if (coerced.errors) return null;
    const plan = planOf(schema, operation, coerced.coerced);
    const json = plan && run(plan, coerced.coerced, viewer);
    return json === null ? null : { json, operation: operation.definition };
  };

  return {
    plans,
    /**
     * The fast lane's way in (src/http/fast-lane.ts): the document Yoga parsed and validated
     * for this text when it last ran compiled, and its answer by the same plans. Null: let
     * Yoga answer (a document never run compiled, or not this time).
     */
    known: (text) => known.get(text),
    answer: compiled,
    write,
    laneAnswered: (operationName, operation) =>
      operation.operation === 'mutation' ? wrote(operationName, true) : took('compiled', operationName, true),
    onExecute({ executeFn, setExecuteFn }) {
      // Planned from the document actually executed: a plugin before this one (the response
      // cache) may execute a rewritten one.
      setExecuteFn((args) => {
        const context = args.contextValue as Context & { params?: { query?: unknown } };
        const text = context.params?.query;
        if (getOperationAST(args.document, args.operationName)?.operation === 'mutation') {
          wrote(args.operationName, false);
          // Parsed, validated and weighed by Yoga, and planned: the lane may run its text from now on.
          const planned = write(args.schema, args.document, args.operationName, args.variableValues ?? {});
          if (planned && typeof text === 'string') remember(text, args.document);
          return executeFn(args);
        }
        const answer = compiled(
          args.schema,
          args.document,
          args.operationName,
          args.variableValues ?? {},
          context.viewer,
        );
        took(answer === null ? 'ordinary' : 'compiled', args.operationName, false);
        if (answer === null) return executeFn(args);
        // Parsed, validated and weighed by Yoga, and compiled: the lane may take its text from now on.
        if (typeof text === 'string') remember(text, args.document);
        return compiledResult(answer.json);
      });
    },
  };
}

const DATA_OPEN = Buffer.from('{"data":');
const DATA_CLOSE = Buffer.from('}');

/** The body of an answer whose `data` is `json`, in the pieces the fast lane writes: `json` is not copied. */
export function answerBody(json: Buffer): readonly Buffer[] {
  return [DATA_OPEN, json, DATA_CLOSE];
}

/** Its length in bytes: MAX_RESPONSE_BYTES is checked on it without building it or parsing `json`. */
export function answerLength(json: Buffer): number {
  return DATA_OPEN.length + json.length + DATA_CLOSE.length;
}

/**
 * The answer whose JSON SQLite wrote. Yoga sends `stringify`'s text as the body; a plugin that
 * reads `data` (SOFA, the response cache) gets it parsed on first use, and a copy of the result
 * (another plugin's edit) is written out the ordinary way.
 */
function compiledResult(json: Buffer) {
  let parsed: Record<string, unknown> | undefined;
  let edited = false;
  const result = {
    get data(): Record<string, unknown> {
      parsed ??= JSON.parse(json.toString()) as Record<string, unknown>;
      return parsed;
    },
    set data(value: Record<string, unknown>) {
      parsed = value;
      edited = true;
    },
    stringify: (value: unknown): string =>
      value === result && !edited ? Buffer.concat(answerBody(json)).toString() : JSON.stringify(value),
    /**
     * The answer's length as sent: MAX_RESPONSE_BYTES is checked on it without parsing. A
     * function, as `stringify` is, so that a copy of the result serialized as JSON leaves it out.
     */
    serializedLength: () => answerLength(json),
  };
  return result;
}

function describeOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  definition: OperationDefinitionNode,
  id: number,
): Operation | null {
  if (definition.operation !== 'query' && definition.operation !== 'mutation') return null;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const node of document.definitions) {
    if (node.kind === Kind.FRAGMENT_DEFINITION) fragments[node.name.value] = node;
  }
  const shapers = (definition.variableDefinitions ?? []).map((variable) => {
    const name = variable.variable.name.value;
    const type = typeFromAST(schema, variable.type);
    const named = type && getNamedType(type);
    const byValue = named !== undefined && (named.name === 'Boolean' || isEnumType(named));
    return (variables: Record<string, unknown>): unknown =>
      byValue ? (variables[name] ?? null) : variables[name] == null ? 0 : 1;
  });
  return {
    id,
    length: document.loc?.end ?? 0,
    definition,
    fragments,
    shapeOf: (variables) => JSON.stringify(shapers.map((shape) => shape(variables))),
  };
}
