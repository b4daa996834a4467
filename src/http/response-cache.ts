import { createInMemoryCache, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { invalidatedAcrossHost } from '../cluster/shared-cache.ts';
import type { Config } from '../config.ts';
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
 * RESPONSE_CACHE=on: query answers cached in memory per query, variables and bearer token
 * (so `viewer` is never shared), dropped by the mutations that touch what they hold.
 */
export function responseCachePlugins(config: Pick<Config, 'responseCache'>): Plugin[] {
  if (!config.responseCache) return [];
  // WORKERS > 1: a write drops what it touched from every process's cache.
  const cache = invalidatedAcrossHost(createInMemoryCache({ max: MAX_ENTRIES }));
  return [
    useResponseCache({
      cache,
      ttl: TTL_MS,
      ttlPerSchemaCoordinate: UNCACHED,
      session: (request) => request.headers.get('authorization'),
    }),
    {
      onExecute({ args }) {
        const { schema } = args;
        if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
        return {
          onExecuteDone({ result }) {
            if (!('data' in result) || !result.data) return;
            const written = Object.keys(result.data).filter((field) => result.data?.[field] != null);
            const types = new Set(written.flatMap((field) => cacheTouchesOf(schema, field) ?? EVERYTHING));
            if (types.size) cache.invalidate([...types].map((typename) => ({ typename })));
          },
        };
      },
    },
  ];
}
