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
import type { ClientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { ErrorCode, refusal } from '../errors.ts';

export type RateLimitConfig = Pick<Config, 'rateLimit' | 'rateLimitUserPerMinute' | 'rateLimitIpPerMinute'>;

const WINDOW_SECONDS = 60;

/**
 * Per-user and per-IP limits on mutations, counted per root mutation field (so aliasing ten
 * `createReview`s into one request costs ten). Queries are never counted or refused: a user
 * who hits the limit, or anyone else, reads on. State is in this process: a restart or a
 * failover starts the counts afresh, which errs on the side of serving. The plugin and the
 * fast lane (src/http/mutation-lane.ts) take from the same counts.
 */
export function mutationRateLimit(config: RateLimitConfig, clientAddress: ClientAddressOf) {
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
  /** Requests the lane counted and then handed to Yoga: counted once. */
  const counted = new WeakSet<IncomingMessage>();
  /** Takes the operation's points; the refusal to answer with when either count is spent. */
  const consume = async (
    req: IncomingMessage | undefined,
    viewer: { id: string } | null | undefined,
    document: DocumentNode,
    operation: OperationDefinitionNode,
  ): Promise<GraphQLError | null> => {
    const points = Math.max(1, rootFieldCount(document, operation.selectionSet));
    try {
      // The IP first: it also bounds anonymous callers, whose every mutation is refused anyway.
      await perIp.consume(clientAddress(req), points);
      if (viewer) await perUser.consume(viewer.id, points);
      return null;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return rateLimitedError(rejection.msBeforeNext);
    }
  };
  const plugin: Plugin = {
    async onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (!operation || !isRateLimited(operation)) return;
      // Yoga's context, with ours (the token rule, request-rules.ts) and Node's server context (`req`) merged in.
      const context: Partial<Pick<Context, 'viewer'>> & { request: Request; req?: IncomingMessage } = args.contextValue;
      if (context.req && counted.has(context.req)) return;
      const refused = await consume(context.req, context.viewer, args.document, operation);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
  };
  return { plugin, consume, counted };
}

export type MutationRateLimit = ReturnType<typeof mutationRateLimit>;

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
