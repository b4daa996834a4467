import {
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  getOperationAST,
  type OperationDefinitionNode,
  parse,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  argumentReading,
  drizzleCursor,
  drizzleTableOf,
  exposedColumnOf,
  globalId,
  globalIdParts,
  hasScopes,
  implementsNode,
  isDrizzleRelation,
  isNodeInterface,
  rootFields,
  subfields,
} from '../../src/reads/schema-adapter.ts';
import { cursorAt, cursorScope, readCursor } from '../../src/schema/cursors.ts';
import { schema } from '../../src/schema/index.ts';

/**
 * What the compiled reads read of Pothos' and graphql-js's insides, held to the real schema: an
 * upgrade that renames an extension or changes an encoding fails here, by name, rather than as
 * every query quietly taking the ordinary path (or a wrong answer).
 */
const type = (name: string) => schema.getType(name) as GraphQLObjectType;
const field = (typeName: string, name: string) => {
  const found = type(typeName).getFields()[name];
  if (!found) throw new Error(`no ${typeName}.${name}`);
  return found;
};
const arg = (typeName: string, fieldName: string, name: string) => {
  const found = field(typeName, fieldName).args.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no argument ${name}`);
  return found;
};

describe('the extensions Pothos leaves on the schema', () => {
  it("name each drizzle type's table, and no other type's", () => {
    expect(drizzleTableOf(type('Review'))).toBe('reviews');
    expect(drizzleTableOf(type('Comment'))).toBe('comments');
    expect(drizzleTableOf(type('User'))).toBe('users');
    expect(drizzleTableOf(type('RatingSummary'))).toBeUndefined();
    expect(drizzleTableOf(type('ReviewConnection'))).toBeUndefined();
  });

  it('name the column an exposed field returns, and tell relations from other fields', () => {
    expect(exposedColumnOf(field('Review', 'title'))).toBe('title');
    expect(exposedColumnOf(field('Review', 'createdAt'))).toBe('createdAt');
    expect(exposedColumnOf(field('RatingSummary', 'average'))).toBe('average');
    for (const [typeName, name] of [
      ['Review', 'author'],
      ['Review', 'comments'],
      ['Comment', 'review'],
      ['User', 'reviews'],
    ] as const) {
      expect(exposedColumnOf(field(typeName, name)), `${typeName}.${name}`).toBeUndefined();
      expect(isDrizzleRelation(field(typeName, name)), `${typeName}.${name}`).toBe(true);
    }
    expect(isDrizzleRelation(field('Review', 'title'))).toBe(false);
    expect(isDrizzleRelation(field('Review', 'commentCount'))).toBe(false);
  });

  it('mark the fields with scopes: the writes, and no read', () => {
    expect(hasScopes(field('Mutation', 'addComment'))).toBe(true);
    expect(hasScopes(field('Mutation', 'deleteReview'))).toBe(true);
    for (const read of Object.values(type('Query').getFields())) expect(hasScopes(read), read.name).toBe(false);
    expect(hasScopes(type('Review'))).toBe(false);
  });

  it('say how each argument is read: a global id (of which types), validated, or as given', () => {
    expect(argumentReading(arg('Query', 'review', 'id'))).toEqual({ kind: 'globalId', typenames: ['Review'] });
    expect(argumentReading(arg('Query', 'comment', 'id'))).toEqual({ kind: 'globalId', typenames: ['Comment'] });
    expect(argumentReading(arg('Query', 'reviews', 'authorId'))).toEqual({ kind: 'globalId', typenames: undefined });
    expect(argumentReading(arg('Query', 'reviews', 'minRating'))).toEqual({ kind: 'validated' });
    expect(argumentReading(arg('Query', 'reviews', 'subject'))).toEqual({ kind: 'asGiven' });
    expect(argumentReading(arg('Query', 'reviews', 'first'))).toEqual({ kind: 'asGiven' });
  });

  it("know the relay plugin's Node interface and the types implementing it", () => {
    const nodeType = getNamedType(field('Query', 'node').type);
    expect(isNodeInterface(nodeType)).toBe(true);
    expect(isNodeInterface(type('Review'))).toBe(false);
    expect(implementsNode(type('Comment'))).toBe(true);
    expect(implementsNode(type('RatingSummary'))).toBe(false);
  });
});

describe("the relay plugin's global ids", () => {
  it('read back what it writes', () => {
    expect(globalIdParts(globalId('Review', '12'))).toEqual({ typename: 'Review', id: '12' });
    expect(globalIdParts(globalId('User', 'alice'))).toEqual({ typename: 'User', id: 'alice' });
    expect(globalId('Review', '1')).toBe('UmV2aWV3OjE=');
  });

  it('read nothing it would not write: other spellings, empty parts, a second colon, a bad type name', () => {
    const base64 = (text: string) => Buffer.from(text).toString('base64');
    expect(globalIdParts('UmV2aWV3OjE')).toBeNull();
    for (const text of ['Review:', ':1', 'Review:1:2', '1Review:1', 'Review']) {
      expect(globalIdParts(base64(text)), text).toBeNull();
    }
    expect(globalIdParts('not an id')).toBeNull();
  });
});

describe("plugin-drizzle's cursors", () => {
  const scope = cursorScope('Review', { createdAt: 'desc', id: 'desc' });
  const positionOf = (cursor: string) => readCursor(cursor)?.position ?? '';

  it('hold the values of the order, as a tuple for several columns and alone for one', () => {
    expect(drizzleCursor(positionOf(cursorAt(scope, [1_700_000_000_123, 7])))).toEqual({
      value: [1_700_000_000_123, 7],
      tuple: true,
    });
    expect(drizzleCursor(positionOf(cursorAt('Review(id desc)', [7])))).toEqual({ value: 7, tuple: false });
  });

  it('are not read from anything else', () => {
    expect(drizzleCursor('XX:N:1')).toBeNull();
    expect(drizzleCursor('DC:Q:1')).toBeNull();
  });
});

describe("graphql-js's field collection", () => {
  const on = (text: string) => {
    const document = parse(text);
    const fragments = Object.fromEntries(
      document.definitions.flatMap((node) => (node.kind === 'FragmentDefinition' ? [[node.name.value, node]] : [])),
    );
    const operation = getOperationAST(document) as OperationDefinitionNode;
    return { selecting: { schema: schema as GraphQLSchema, fragments, variables: { hide: true } }, operation };
  };

  it('merges fields by response key across fragments, and drops what @skip/@include leave out', () => {
    const { selecting, operation } = on(`query($hide: Boolean!) {
      a: reviews { nodes { title } }
      ...More
      b: viewer @include(if: $hide) { name }
      c: viewer @skip(if: $hide) { name }
    }
    fragment More on Query { a: reviews { nodes { body } totalCount } }`);
    const roots = rootFields(selecting, type('Query'), operation.selectionSet);
    expect([...roots.keys()]).toEqual(['a', 'b']);
    const connection = subfields(selecting, type('ReviewConnection'), roots.get('a') ?? []);
    expect([...connection.keys()]).toEqual(['nodes', 'totalCount']);
    const nodes = subfields(selecting, type('Review'), connection.get('nodes') ?? []);
    expect([...nodes.keys()]).toEqual(['title', 'body']);
  });
});
