import type { IncomingMessage } from 'node:http';
import {
  type DocumentNode,
  type GraphQLError,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { ErrorCode, refusal } from '../errors.ts';
import type { ClientAddressOf } from './client-address.ts';

export type RateLimitConfig = Pick<Config, 'rateLimit' | 'rateLimitUserPerMinute' | 'rateLimitIpPerMinute'>;

const WINDOW_SECONDS = 60;

/**
 * Per-user and per-IP limits on mutations, counted per root mutation field (so aliasing ten
 * `createReview`s into one request costs ten). Queries are never counted or refused: a user
 * who hits the limit, or anyone else, reads on. State is in this process: a restart or a
 * failover starts the counts afresh, which errs on the side of serving.
 */
export function useMutationRateLimit(config: RateLimitConfig, clientAddress: ClientAddressOf): Plugin {
  const perIp = new RateLimiterMemory({
    keyPrefix: 'ip',
    points: config.rateLimitIpPerMinute,
    duration: WINDOW_SECONDS,
  });
  const perUser = new RateLimiterMemory({
    keyPrefix: 'user',
    points: config.rateLimitUserPerMinute,
    duration: WINDOW_SECONDS,
  });
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (!operation || !isRateLimited(operation)) return;
      const points = Math.max(1, rootFieldCount(args.document, operation.selectionSet));
      // Yoga's context, with ours (createApp) and Node's server context (`req`) merged in.
      const context: Partial<Pick<Context, 'viewer'>> & { request: Request; req?: IncomingMessage } = args.contextValue;
      try {
        // The IP first: it also bounds anonymous callers, whose every mutation is refused anyway.
        await perIp.consume(clientAddress(context.req), points);
        if (context.viewer) await perUser.consume(context.viewer.id, points);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        setResultAndStopExecution({ errors: [rateLimitedError(rejection.msBeforeNext)] });
      }
    },
  };
}

/** Mutations are counted, queries never: the plugin and the fast lane ask this alike. */
export function isRateLimited(operation: OperationDefinitionNode): boolean {
  return operation.operation === 'mutation';
}

/** Root fields, looking through fragments: a fragment of ten aliased mutations costs ten. */
function rootFieldCount(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) count += 1;
    else if (selection.kind === Kind.INLINE_FRAGMENT) count += rootFieldCount(document, selection.selectionSet, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find(
        (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) count += rootFieldCount(document, fragment.selectionSet, seen);
    }
  }
  return count;
}

function rateLimitedError(msBeforeNext: number): GraphQLError {
  const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return refusal(ErrorCode.RATE_LIMITED, `Too many mutations; retry after ${retryAfterSeconds} s`, {
    retryAfterSeconds,
    extensions: { retryAfterSeconds },
  });
}
