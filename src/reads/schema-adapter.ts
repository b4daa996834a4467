import { createRequire } from 'node:module';
import { decodeCursorChunk } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  isInterfaceType,
  type SelectionSetNode,
} from 'graphql';
import { exactBase64Text } from '../schema/ids.ts';

/**
 * All the compiled reads know of how Pothos and graphql-js work inside: the extensions Pothos'
 * plugins leave on the built schema, the relay plugin's ids, plugin-drizzle's cursors, and
 * graphql-js's field collection. An upgrade of either is checked here, in one place, and
 * test/unit/schema-adapter.test.ts holds the real schema to every reading.
 */

/** A selection's fields by response key, each with the nodes that merged into it. */
export type FieldsByKey = ReadonlyMap<string, readonly FieldNode[]>;

/**
 * graphql-js's own field collection (fragments, type conditions, @skip/@include), so fields merge
 * exactly as the executor merges them. Required: the package has no exports map, and its ESM copy
 * would be a second graphql instance.
 */
const collection = createRequire(import.meta.url)(
  'graphql/execution/collectFields.js',
) as typeof import('graphql/execution/collectFields.js');

/** What a document compiles against: the schema, its fragments, and the variables' values. */
export interface Selecting {
  schema: GraphQLSchema;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
}

/** An operation's root fields, as the executor collects them. */
export function rootFields(on: Selecting, type: GraphQLObjectType, selectionSet: SelectionSetNode): FieldsByKey {
  return collection.collectFields(on.schema, on.fragments, on.variables, type, selectionSet);
}

/** The fields selected on an object by the merged nodes of its parent field. */
export function subfields(on: Selecting, type: GraphQLObjectType, nodes: readonly FieldNode[]): FieldsByKey {
  return collection.collectSubfields(on.schema, on.fragments, on.variables, type, nodes);
}

type WithExtensions = { extensions?: unknown };

function extensionsOf(owner: WithExtensions): Record<string, unknown> {
  return (owner.extensions ?? {}) as Record<string, unknown>;
}

/** A type or field with scope-auth scopes: they decide per request and per row, which a statement cannot. */
export function hasScopes(owner: GraphQLObjectType | GraphQLField<unknown, unknown>): boolean {
  const options = (extensionsOf(owner).pothosOptions ?? {}) as Record<string, unknown>;
  return options.authScopes !== undefined || options.grantScopes !== undefined || options.skipTypeScopes !== undefined;
}

/** The table (its name in `defineRelations`) a `drizzleObject` type is built on; undefined for other types. */
export function drizzleTableOf(type: GraphQLObjectType): string | undefined {
  const model = extensionsOf(type).pothosDrizzleModel;
  return typeof model === 'string' ? model : undefined;
}

/** The column (its property in the table) a `t.exposeX` field returns as it is; undefined for other fields. */
export function exposedColumnOf(field: GraphQLField<unknown, unknown>): string | undefined {
  const exposed = extensionsOf(field).pothosExposedField;
  return typeof exposed === 'string' ? exposed : undefined;
}

/** Whether plugin-drizzle loads this field as a relation of its parent row (`t.relation`, `t.relatedConnection`). */
export function isDrizzleRelation(field: GraphQLField<unknown, unknown>): boolean {
  return extensionsOf(field).pothosDrizzleLoaded !== undefined;
}

/** How the ordinary path reads an argument before its resolver sees it. */
export type ArgumentReading =
  /** A relay global id, decoded; `typenames`: the types it may name (`for`), if restricted. */
  | { kind: 'globalId'; typenames: readonly string[] | undefined }
  /** Checked by plugin-validation's rules, which a statement does not run. */
  | { kind: 'validated' }
  | { kind: 'asGiven' };

export function argumentReading(arg: GraphQLArgument): ArgumentReading {
  const extensions = extensionsOf(arg);
  if (extensions.isRelayGlobalID) {
    const allowed = extensions.relayGlobalIDFor as { typename: string }[] | undefined;
    return { kind: 'globalId', typenames: allowed?.map(({ typename }) => typename) };
  }
  return extensions['@pothos/plugin-validation'] !== undefined ? { kind: 'validated' } : { kind: 'asGiven' };
}

/** The relay plugin's `Node` interface, which `node(id)` / `nodes(ids)` return. */
export function isNodeInterface(type: GraphQLNamedType): type is GraphQLInterfaceType {
  return isInterfaceType(type) && type.name === 'Node';
}

/** Whether a type implements `Node`: its `id` field is the relay plugin's global id of its row. */
export function implementsNode(type: GraphQLObjectType): boolean {
  return type.getInterfaces().some(isNodeInterface);
}

/** A row's global id as the relay plugin writes it. */
export function globalId(typename: string, id: string): string {
  return encodeGlobalID(typename, id);
}

/**
 * A global id's parts, or null unless it is exactly what the relay plugin writes (base64 has
 * other spellings of the same bytes; a type name is a GraphQL name; an id holds no `:`).
 */
export function globalIdParts(value: string): { typename: string; id: string } | null {
  const decoded = exactBase64Text(value);
  if (decoded === null) return null;
  const colon = decoded.indexOf(':');
  const typename = decoded.slice(0, colon);
  const id = decoded.slice(colon + 1);
  if (colon < 1 || id === '' || id.includes(':') || !/^[A-Z_a-z]\w*$/.test(typename)) return null;
  return Object.freeze({ typename, id });
}

/**
 * plugin-drizzle's part of a cursor (`DC:` then a chunk of the order's values): the chunk's
 * value, and whether it is a tuple (`T:`); null if it is not such a part.
 */
export function drizzleCursor(position: string): { value: unknown; tuple: boolean } | null {
  if (!position.startsWith('DC:')) return null;
  const chunk = position.slice(3);
  try {
    return { value: decodeCursorChunk(chunk), tuple: chunk.startsWith('T:') };
  } catch {
    return null;
  }
}
