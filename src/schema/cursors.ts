import { decodeBase64, decodeCursorChunk, encodeBase64, encodeCursorChunk, encodeCursorTuple } from '@pothos/core';
import {
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  isObjectType,
  Kind,
  type StringValueNode,
  TypeInfo,
  type ValueNode,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { exactBase64Text } from './ids.ts';
import { type Ordering, readSpecOf } from './read-spec.ts';

/**
 * A connection cursor says what it pages: the node type and the order (`Review(createdAt desc, id
 * desc)`), then plugin-drizzle's own cursor (`DC:` and a chunk of the order's values), all base64.
 * A cursor from another connection or order is refused with BAD_USER_INPUT before anything runs,
 * instead of being read as a position in rows it does not describe (it used to return page 1).
 * plugin-drizzle writes and reads its own part only: the ordinary path adds the scope to what it
 * hands out (scopedCursors) and takes it off what it is given (useCursorScopes); the compiled
 * path (src/reads/connections.ts) writes and reads the whole.
 */
const SCOPE_END = '|';

/** What a cursor pages: the node type and the order of its rows. */
export function cursorScope(nodeType: string, order: Ordering): string {
  const columns = Object.entries(order).map(([column, direction]) => `${column} ${direction}`);
  return `${nodeType}(${columns.join(', ')})`;
}

/** The cursor of a row at `values` (the order's columns) in `scope`, as plugin-drizzle would write its part. */
export function cursorAt(scope: string, values: readonly unknown[]): string {
  const chunk = values.length === 1 ? encodeCursorChunk(values[0]) : encodeCursorTuple(values);
  return encodeBase64(`${scope}${SCOPE_END}DC:${chunk}`);
}

/** A cursor's scope and plugin-drizzle's part of it (decoded: `DC:…`); null if it is not one this service writes. */
export function readCursor(cursor: string): { scope: string; position: string } | null {
  const decoded = exactBase64Text(cursor);
  if (decoded === null) return null;
  const end = decoded.indexOf(SCOPE_END);
  if (end < 1) return null;
  return { scope: decoded.slice(0, end), position: decoded.slice(end + 1) };
}

/** The type of the nodes a connection (or edge) type holds. */
export function nodeTypeOf(type: GraphQLOutputType): string | undefined {
  const named = getNamedType(type);
  if (!isObjectType(named)) return undefined;
  const edges = named.getFields().edges;
  const edge = edges ? getNamedType(edges.type) : named;
  const node = isObjectType(edge) ? edge.getFields().node : undefined;
  return node && getNamedType(node.type).name;
}

/** The scope of the cursors a connection field pages with these arguments; undefined for other fields. */
function connectionScope(def: GraphQLField<unknown, unknown>, args: object): string | undefined {
  const spec = readSpecOf(def);
  const order =
    spec?.kind === 'relatedConnection' ? spec.order : spec?.kind === 'rows' ? spec.order?.(args) : undefined;
  const nodeType = nodeTypeOf(def.type);
  return order && nodeType ? cursorScope(nodeType, order) : undefined;
}

/** Whether plugin-drizzle could have written this part: its dates and numbers are real (it checks the framing only). */
function isPosition(position: string): boolean {
  try {
    return position.startsWith('DC:') && holdsRealValues(decodeCursorChunk(position.slice(3)));
  } catch {
    return false;
  }
}

function holdsRealValues(value: unknown): boolean {
  if (value instanceof Date) return !Number.isNaN(value.getTime());
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(holdsRealValues);
  return true;
}

const CURSOR_ARGUMENTS = new Set(['after', 'before']);

interface CursorArgument {
  def: GraphQLField<unknown, unknown>;
  node: FieldNode;
  value: ValueNode;
}

const cursorArgumentsOf = new WeakMap<DocumentNode, CursorArgument[]>();

/** The `after`/`before` arguments of a document's connection fields, found once per document. */
function cursorArguments(schema: GraphQLSchema, document: DocumentNode): CursorArgument[] {
  let found = cursorArgumentsOf.get(document);
  if (found) return found;
  const collected: CursorArgument[] = [];
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const def = typeInfo.getFieldDef();
        if (!def) return;
        for (const argument of node.arguments ?? []) {
          if (CURSOR_ARGUMENTS.has(argument.name.value)) collected.push({ def, node, value: argument.value });
        }
      },
    }),
  );
  found = collected;
  cursorArgumentsOf.set(document, found);
  return found;
}

function cursorValue(value: ValueNode, variables: Record<string, unknown>): unknown {
  if (value.kind === Kind.VARIABLE) return variables[value.name.value];
  return value.kind === Kind.STRING ? value.value : null;
}

/**
 * Why a document's `after`/`before` cannot be used, written in or passed as a variable: not a
 * cursor this service wrote, or one of another connection or order. Checked before anything
 * runs, on every request (cursors are too varied to remember verdicts by).
 */
export function cursorProblem(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
): string | undefined {
  for (const { def, node, value } of cursorArguments(schema, document)) {
    const cursor = cursorValue(value, variables);
    if (typeof cursor !== 'string') continue;
    const read = readCursor(cursor);
    if (!read || !isPosition(read.position)) return 'not a valid cursor (after/before)';
    let expected: string | undefined;
    try {
      expected = connectionScope(def, getArgumentValues(def, node, variables));
    } catch {
      // Arguments execution will refuse: its error is the answer.
      continue;
    }
    if (expected !== read.scope) {
      return `a cursor of ${read.scope} cannot page ${def.name}${expected ? ` in ${expected}` : ''}; cursors are valid only on the connection and order that gave them`;
    }
  }
  return undefined;
}

/** plugin-drizzle's own cursor: the position, without the scope. */
function positionOf(cursor: unknown): unknown {
  if (typeof cursor !== 'string') return cursor;
  const read = readCursor(cursor);
  return read ? encodeBase64(read.position) : cursor;
}

const positionDocuments = new WeakMap<DocumentNode, DocumentNode>();

/** The document and variables with every cursor argument replaced by its position, for plugin-drizzle. */
function withPositions(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>) {
  const cursors = cursorArguments(schema, document);
  if (cursors.length === 0) return { document, variables };
  const unscoped = { ...variables };
  const literals = new Set<ValueNode>();
  for (const { value } of cursors) {
    if (value.kind === Kind.VARIABLE) unscoped[value.name.value] = positionOf(variables[value.name.value]);
    else if (value.kind === Kind.STRING) literals.add(value);
  }
  let rewritten = positionDocuments.get(document);
  if (!rewritten) {
    rewritten =
      literals.size === 0
        ? document
        : visit(document, {
            StringValue: (node: StringValueNode) =>
              literals.has(node) ? { ...node, value: positionOf(node.value) as string } : undefined,
          });
    positionDocuments.set(document, rewritten);
  }
  return { document: rewritten, variables: unscoped };
}

/**
 * The ordinary path's way in: plugin-drizzle plans pages from the document and its variables,
 * so those are what it is given without the scopes (checked already, by the cost rule). Inside
 * execution only, so every plugin before it (the compiled reads among them) sees the request as sent.
 */
export function useCursorScopes(): Plugin {
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn((args) => {
        const { document, variables } = withPositions(args.schema, args.document, args.variableValues ?? {});
        return executeFn({ ...args, document, variableValues: variables });
      });
    },
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn((args) => {
        const { document, variables } = withPositions(args.schema, args.document, args.variableValues ?? {});
        return subscribeFn({ ...args, document, variableValues: variables });
      });
    },
  };
}

/** plugin-drizzle's cursor with the scope added (once: a connection object may be answered twice). */
function withScope(scope: string, cursor: string): string {
  const position = decodeBase64(cursor);
  return position.startsWith('DC:') ? encodeBase64(`${scope}${SCOPE_END}${position}`) : cursor;
}

interface PluginConnection {
  edges?: ({ cursor: string } | null)[];
  pageInfo?: { startCursor: string | null; endCursor: string | null };
}

/**
 * The ordinary path's way out: every connection field's answer has its cursors scoped to the
 * field's node type and order, as plugin-drizzle built them (the edges' and the page's).
 */
export function scopedCursors(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const def of Object.values(type.getFields())) {
      const resolve = def.resolve;
      if (!resolve || !connectionScope(def, {})) continue;
      def.resolve = (parent, args, context, info) => {
        const scope = connectionScope(def, args) as string;
        const scoped = (connection: unknown) => {
          const { edges, pageInfo } = (connection ?? {}) as PluginConnection;
          for (const edge of edges ?? []) if (edge) edge.cursor = withScope(scope, edge.cursor);
          if (pageInfo) {
            pageInfo.startCursor = pageInfo.startCursor && withScope(scope, pageInfo.startCursor);
            pageInfo.endCursor = pageInfo.endCursor && withScope(scope, pageInfo.endCursor);
          }
          return connection;
        };
        const connection = resolve(parent, args, context, info);
        return connection instanceof Promise ? connection.then(scoped) : scoped(connection);
      };
    }
  }
  return schema;
}
