import {
  type ArgumentNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  isUnionType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/builder.ts';

/**
 * What a field costs for each row that carries it, when more than 1: long text by the most it
 * may hold (one unit per 250 characters: a review body takes 10,000, a comment body 5,000;
 * titles, subjects and names 200 count as any scalar). Answers of many bodies are what grows
 * a response and the memory that holds it, so 500 bodies cost what 20,000 ids do.
 */
const FIELD_WEIGHTS: Record<string, number> = {
  'Review.body': 40,
  'Comment.body': 20,
  // A count scans every matching row, however few the page holds.
  'ReviewConnection.totalCount': 20,
  'CommentConnection.totalCount': 20,
};

/**
 * A field that yields an object costs this per row: resolving an object (its id, its type
 * check, its own fields' resolvers) is what a many-row answer spends most of its CPU on.
 */
const OBJECT_WEIGHT = 2;

/** Any list argument longer than this is refused: `nodes(ids:)` loads one row per element. */
export const MAX_LIST_ARGUMENT = 100;

/** What a document costs, or why its arguments are refused before it runs. */
export type CostVerdict = { cost: number } | { badInput: string };

interface Walk {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  defaults: Map<string, ValueNode | undefined>;
  /** A fragment's cost per row, by name and enclosing page size: repeated spreads are walked once. */
  memo: Map<string, number>;
  badInput?: string;
}

/**
 * The rows-and-text cost of running one operation, as an upper bound of what it can read:
 * each field costs its weight times the rows that carry it; a connection's `nodes`/`edges`
 * carry its real page size (the default when `first`/`last` is absent, the clamp when larger);
 * `nodes(ids:)` carries one row per id; nesting multiplies. Fragments count as if written out.
 * On the way it refuses an id list longer than MAX_LIST_ARGUMENT: SQLite refuses a statement
 * of 32,767 bound variables, and the rows are read before anything could stop them.
 * Runs on a validated document; a fragment cycle would still be walked once.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): CostVerdict {
  const walk: Walk = {
    schema,
    fragments: new Map(),
    variables,
    defaults: new Map(operation.variableDefinitions?.map((d) => [d.variable.name.value, d.defaultValue]) ?? []),
    memo: new Map(),
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) walk.fragments.set(definition.name.value, definition);
  }
  const root = schema.getRootType(operation.operation);
  if (!root) return { cost: 0 };
  const cost = selectionCost(walk, operation.selectionSet, root, DEFAULT_PAGE_SIZE);
  return walk.badInput ? { badInput: walk.badInput } : { cost };
}

/** The cost of a selection set for one row of `type`; `pageSize` is the enclosing connection's. */
function selectionCost(walk: Walk, set: SelectionSetNode, type: GraphQLCompositeType, pageSize: number): number {
  let cost = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      cost += fieldCost(walk, selection.name.value, selection.arguments ?? [], selection.selectionSet, type, pageSize);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const condition = selection.typeCondition ? walk.schema.getType(selection.typeCondition.name.value) : type;
      if (isCompositeType(condition)) cost += selectionCost(walk, selection.selectionSet, condition, pageSize);
    } else {
      const key = `${selection.name.value}@${pageSize}`;
      let fragmentCost = walk.memo.get(key);
      if (fragmentCost === undefined) {
        // Zero while it is walked: a cyclic spread (refused by validation later) ends here.
        walk.memo.set(key, 0);
        const fragment = walk.fragments.get(selection.name.value);
        const condition = fragment && walk.schema.getType(fragment.typeCondition.name.value);
        fragmentCost =
          fragment && isCompositeType(condition) ? selectionCost(walk, fragment.selectionSet, condition, pageSize) : 0;
        walk.memo.set(key, fragmentCost);
      }
      cost += fragmentCost;
    }
  }
  return cost;
}

function fieldCost(
  walk: Walk,
  name: string,
  args: readonly ArgumentNode[],
  set: SelectionSetNode | undefined,
  parent: GraphQLCompositeType,
  pageSize: number,
): number {
  // Every field costs at least one unit, `__typename` too: it is one more key in every row.
  if (name.startsWith('__') || isUnionType(parent)) return 1;
  const field = parent.getFields()[name];
  if (!field) return 1;
  const named = getNamedType(field.type);
  if (!set || !isCompositeType(named)) return FIELD_WEIGHTS[`${parent.name}.${name}`] ?? 1;
  const rows = rowsOf(walk, field, args, parent, pageSize);
  const innerPageSize = isConnection(named) ? connectionPageSize(walk, args) : pageSize;
  return OBJECT_WEIGHT + rows * selectionCost(walk, set, named, innerPageSize);
}

/** How many rows a field yields per row of its parent. */
function rowsOf(
  walk: Walk,
  field: GraphQLField<unknown, unknown>,
  args: readonly ArgumentNode[],
  parent: GraphQLCompositeType,
  pageSize: number,
): number {
  if (!isListType(getNullableType(field.type))) return 1;
  // A connection's page: its `nodes`, or its `edges`.
  if (isConnection(parent)) return pageSize;
  // A list chosen by a list argument (`nodes(ids:)`): one row per element.
  for (const arg of args) {
    const length = listLength(walk, arg.value);
    if (length === undefined) continue;
    if (length > MAX_LIST_ARGUMENT)
      walk.badInput ??= `${field.name}(${arg.name.value}:) takes at most ${MAX_LIST_ARGUMENT} elements, got ${length}`;
    return length;
  }
  return MAX_PAGE_SIZE;
}

function isConnection(type: GraphQLCompositeType): boolean {
  return isObjectType(type) && 'pageInfo' in type.getFields() && 'edges' in type.getFields();
}

/** `first` or `last` as the connection will serve it: the default when absent, clamped. */
function connectionPageSize(walk: Walk, args: readonly ArgumentNode[]): number {
  let size: number | undefined;
  for (const arg of args) {
    if (arg.name.value !== 'first' && arg.name.value !== 'last') continue;
    const value = argumentValue(walk, arg.value);
    if (typeof value === 'number' && Number.isFinite(value)) size = Math.max(size ?? 0, value);
  }
  return Math.min(Math.max(size ?? DEFAULT_PAGE_SIZE, 0), MAX_PAGE_SIZE);
}

/** A literal, or a variable's value (its default when the request gives none). */
function argumentValue(walk: Walk, value: ValueNode): unknown {
  if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    if (walk.variables[name] !== undefined && walk.variables[name] !== null) return walk.variables[name];
    const fallback = walk.defaults.get(name);
    return fallback ? argumentValue(walk, fallback) : undefined;
  }
  if (value.kind === Kind.INT || value.kind === Kind.FLOAT) return Number(value.value);
  if (value.kind === Kind.LIST) return value.values;
  return undefined;
}

function listLength(walk: Walk, value: ValueNode): number | undefined {
  const list = argumentValue(walk, value);
  return Array.isArray(list) ? list.length : undefined;
}
