import SchemaBuilder from '@pothos/core';
import DrizzlePlugin from '@pothos/plugin-drizzle';
import RelayPlugin, { resolveNodes } from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { getTableConfig } from 'drizzle-orm/sqlite-core';
import { type GraphQLResolveInfo, isObjectType } from 'graphql';
import type { Context } from '../context.ts';
import { relations } from '../db/relations.ts';
import { clientError, ErrorCode } from '../errors.ts';

/** plugin-drizzle's node loader rejects a missing row with this message. */
const MISSING_ROW = /^Model \w+\(.*\) not found$/;

async function loadNode(
  ctx: Context,
  info: GraphQLResolveInfo,
  id: { id: string; typename: string },
): Promise<object | null> {
  // A well-formed id of a type that is no Node ("Nope:1") is a bad id, not a server failure.
  const type = info.schema.getType(id.typename);
  if (!isObjectType(type) || !type.getInterfaces().some((node) => node.name === 'Node')) {
    throw clientError(ErrorCode.BAD_USER_INPUT, 'Not a valid id');
  }
  try {
    const [node] = await resolveNodes(builder, ctx, info, [id]);
    return node ?? null;
  } catch (error) {
    if (error instanceof Error && MISSING_ROW.test(error.message)) return null;
    throw error;
  }
}

/** The page a connection serves when the client names no size. */
export const DEFAULT_PAGE_SIZE = 20;

/** The largest page any connection serves, whatever a client asks for. */
export const MAX_PAGE_SIZE = 100;

export const builder = new SchemaBuilder<{
  Context: Context;
  DrizzleRelations: typeof relations;
  AuthScopes: { signedIn: boolean; moderator: boolean };
  Scalars: { DateTime: { Input: Date; Output: number } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin, ValidationPlugin, DrizzlePlugin],
  defaultFieldNullability: false,
  drizzle: {
    client: (ctx) => ctx.db,
    getTableConfig,
    relations,
    defaultConnectionSize: DEFAULT_PAGE_SIZE,
    maxConnectionSize: MAX_PAGE_SIZE,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // What GraphiQL, Relay's and Apollo's tooling and codegen show front-end developers.
    nodeTypeOptions: { description: 'An object with a global id, which `node(id:)` fetches again (Relay refetch).' },
    idFieldOptions: {
      description:
        "The object's global id: opaque and stable; pass it to `node(id:)`, to the queries and mutations that take an id, and to REST paths.",
    },
    pageInfoTypeOptions: { description: 'Where a page sits in its connection, and the cursors to page on from it.' },
    hasNextPageFieldOptions: {
      description: 'Whether more objects follow this page (paging forward with `first`); false when paging backward.',
    },
    hasPreviousPageFieldOptions: {
      description:
        'Whether more objects come before this page (paging backward with `last`); false when paging forward.',
    },
    startCursorFieldOptions: {
      description: "The first edge's cursor (pass it as `before` for the previous page); null on an empty page.",
    },
    endCursorFieldOptions: {
      description: "The last edge's cursor (pass it as `after` for the next page); null on an empty page.",
    },
    firstArgOptions: {
      description: `Page forward: at most this many objects from the start, or after \`after\`. 0 to ${MAX_PAGE_SIZE} (more is served as ${MAX_PAGE_SIZE}); ${DEFAULT_PAGE_SIZE} when neither \`first\` nor \`last\` is given. Not with \`last\`.`,
    },
    afterArgOptions: {
      description:
        "Page forward from this cursor (`pageInfo.endCursor` or an edge's `cursor` of this same field with the same arguments); the object it names is not repeated.",
    },
    lastArgOptions: {
      description: `Page backward: at most this many objects from the end, or before \`before\`. 0 to ${MAX_PAGE_SIZE} (more is served as ${MAX_PAGE_SIZE}). Not with \`first\`.`,
    },
    beforeArgOptions: {
      description:
        "Page backward from this cursor (`pageInfo.startCursor` or an edge's `cursor` of this same field with the same arguments); the object it names is not repeated.",
    },
    pageInfoFieldOptions: { description: 'Whether there is more, and the cursors to page on with.' },
    edgesFieldOptions: { description: "The page's objects with their cursors, in the connection's order." },
    nodesOnConnection: {
      description: "The page's objects, in the connection's order (the edges' nodes, without cursors).",
    },
    cursorFieldOptions: {
      description:
        "This object's place in the connection: pass it as `after` or `before` to the same field with the same arguments. Opaque.",
    },
    nodeFieldOptions: { description: 'The object at this place in the connection.' },
    // A global id naming a row that does not exist is null, as Relay expects, not an error.
    // Resolved id by id (still batched into one statement per type by plugin-drizzle's loader),
    // so one missing row does not fail the others.
    nodeQueryOptions: {
      description:
        'The object with this global id, of any type; null if there is none (never was, or deleted). BAD_USER_INPUT for an id that is malformed or names no object type.',
      args: { id: { description: 'A global id, as an `id` field gave it.' } },
      resolve: (_root, { id }, ctx, info) => loadNode(ctx, info, id),
    },
    nodesQueryOptions: {
      description:
        'The objects with these global ids, in the same order; null in place of each that does not exist. At most 100 ids.',
      args: { ids: { description: 'Global ids, as `id` fields gave them; at most 100.' } },
      resolve: (_root, { ids }, ctx, info) => ids.map((id) => loadNode(ctx, info, id)),
    },
  },
  scopeAuth: {
    authScopes: (ctx) => ({
      signedIn: ctx.viewer !== null,
      moderator: ctx.viewer?.roles.includes('moderator') ?? false,
    }),
    unauthorizedError: (_parent, ctx) => {
      if (ctx.viewer) return clientError(ErrorCode.FORBIDDEN, 'Not allowed');
      const reason = ctx.auth.kind === 'invalid' ? ctx.auth.reason : 'a bearer token is required to write';
      return clientError(ErrorCode.UNAUTHENTICATED, `Not signed in: ${reason}`);
    },
  },
  validation: {
    validationError: (result) =>
      clientError(
        ErrorCode.BAD_USER_INPUT,
        result.issues
          .map(
            (issue) =>
              `${issue.path?.map((p) => (typeof p === 'object' ? p.key : p)).join('.') ?? 'input'}: ${issue.message}`,
          )
          .join('; '),
      ),
  },
});

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO-8601 string in UTC with milliseconds.',
  serialize: (epochMs) => new Date(epochMs).toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime()))
      throw clientError(ErrorCode.BAD_USER_INPUT, 'DateTime must be an ISO-8601 string');
    return date;
  },
});

builder.queryType({ description: 'Reads. Need no token; `viewer` is the only field that depends on one.' });
builder.mutationType({
  description:
    'Writes. Each needs a bearer token, takes one `input` and answers a payload with what it wrote. A refused write changes nothing.',
});
