import { createInMemoryCache, hashSHA256, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Authentication } from '../auth.ts';
import type { Config } from '../config.ts';
import type { Host } from '../host/host.ts';
import { cacheTouchesOf } from '../schema/extensions.ts';

/**
 * The cache already drops every cached answer holding an entity a mutation returns (Comment:7);
 * each mutation declares the rest beside its field (cacheTouches in src/schema/: a new comment
 * changes its review's commentCount and comments, every write its author's User row). One that
 * declares nothing (or is aliased) drops every cached answer.
 */
const EVERYTHING = ['Review', 'Comment', 'User'];

/**
 * Never cached: the cache files answers under the entities in them (type and id), and a
 * RatingSummary has no id, so no write could find and drop a cached one.
 */
const UNCACHED = { RatingSummary: 0 };

/**
 * A cached answer lives at most this long: a bound on staleness should a write ever reach the
 * database other than through a GraphQL mutation of this process (a restore, an operator).
 */
const TTL_MS = 60_000;

/** Distinct (query, variables, token) answers kept. */
const MAX_ENTRIES = 10_000;

/**
 * RESPONSE_CACHE=on: query answers cached in memory per query, operation, variables and the
 * identity a verified token names (so `viewer` is never shared), dropped by the mutations that
 * touch what they hold. The token is verified before the cache is asked (`authenticate`, the
 * app's own): keyed on the raw header, a token that expired was still answered as its holder.
 * An invalid token is answered as no token is (its `viewer` is null): it shares those entries.
 */
export function responseCachePlugins(
  config: Pick<Config, 'responseCache'>,
  authenticate: (authorization: string | null) => Authentication | Promise<Authentication>,
  host: Host,
): Plugin[] {
  if (!config.responseCache) return [];
  // WORKERS > 1: a write drops what it touched from every process's cache.
  const cache = host.responseCache(createInMemoryCache({ max: MAX_ENTRIES }));
  /** By request: its mutations' invalidations, until they are done everywhere. */
  const invalidating = new WeakMap<Request, Promise<unknown>>();
  return [
    useResponseCache({
      cache,
      ttl: TTL_MS,
      ttlPerSchemaCoordinate: UNCACHED,
      session: async (request) => identityOf(await authenticate(request.headers.get('authorization'))),
      // One JSON value: the plugin's default joins the parts with `|`, which a document may hold.
      buildResponseCacheKey: ({ documentString, operationName, variableValues, sessionId }) =>
        hashSHA256(JSON.stringify([documentString, operationName ?? null, variableValues ?? {}, sessionId ?? null])),
    }),
    {
      onExecute({ args }) {
        const { schema } = args;
        if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
        const { request } = args.contextValue as { request?: Request };
        return {
          onExecuteDone({ result }) {
            if (!('data' in result) || !result.data) return;
            const written = Object.keys(result.data).filter((field) => result.data?.[field] != null);
            const types = new Set(written.flatMap((field) => cacheTouchesOf(schema, field) ?? EVERYTHING));
            if (!types.size) return;
            const dropped = Promise.resolve(cache.invalidate([...types].map((typename) => ({ typename }))));
            if (request) invalidating.set(request, Promise.all([invalidating.get(request), dropped]));
          },
        };
      },
      // The answer waits until the write is out of every cache of the host (WORKERS > 1: the
      // other processes' too), so the client's next read cannot find what it changed as before.
      async onResultProcess({ request }) {
        await invalidating.get(request);
      },
    },
  ];
}

/** What an answer may depend on of who asks: the verified viewer, or null for everyone else. */
function identityOf(auth: Authentication): string | null {
  return auth.kind === 'user' ? JSON.stringify([auth.viewer.id, auth.viewer.name, auth.viewer.roles]) : null;
}
