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
    nodesOnConnection: true,
    clientMutationId: 'omit',
    cursorType: 'String',
    // A global id naming a row that does not exist is null, as Relay expects, not an error.
    // Resolved id by id (still batched into one statement per type by plugin-drizzle's loader),
    // so one missing row does not fail the others.
    nodeQueryOptions: {
      resolve: (_root, { id }, ctx, info) => loadNode(ctx, info, id),
    },
    nodesQueryOptions: {
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

builder.queryType({});
builder.mutationType({});
