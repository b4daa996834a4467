import { randomUUID } from 'node:crypto';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { Logger } from '../logger.ts';
import type { FinishedRequest } from './metrics.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept only if it is short and plain: it ends up in logs and headers. */
const ACCEPTABLE_REQUEST_ID = /^[\w.:-]{1,128}$/;

interface RequestFacts {
  id: string;
  started: bigint;
  operationName?: string;
  operationType?: string;
  userId?: string;
}

/**
 * One JSON log line per request (method, path, status, duration, operation, user id; never
 * the token), and its request id in the `x-request-id` response header: the caller's, if it
 * sent an acceptable one, so a trace crosses the load balancer, else a new one.
 *
 * The facts are kept per server context: GraphQL's context is that object and SOFA's inherits
 * from it, so a REST request (whose Request SOFA replaces) is found the same way.
 */
export function useRequestLog(logger: Logger | undefined, onFinished: (request: FinishedRequest) => void): Plugin {
  const facts = new WeakMap<object, RequestFacts>();
  const factsOf = (context: object): RequestFacts | undefined =>
    facts.get(context) ?? facts.get(Object.getPrototypeOf(context) as object);
  const noteOperation = ({
    args,
  }: {
    args: { contextValue: unknown; document: unknown; operationName?: string | null };
  }) => {
    const context = args.contextValue as Partial<Context> & object;
    const request = factsOf(context);
    if (!request) return;
    const operation = getOperationAST(args.document as Parameters<typeof getOperationAST>[0], args.operationName);
    request.operationName = operation?.name?.value ?? args.operationName ?? 'Anonymous';
    request.operationType = operation?.operation;
    request.userId = context.viewer?.id;
  };
  return {
    onRequest({ request, serverContext }) {
      const incoming = request.headers.get(REQUEST_ID_HEADER);
      facts.set(serverContext as object, {
        id: incoming && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID(),
        started: process.hrtime.bigint(),
      });
    },
    onExecute: noteOperation,
    onSubscribe: noteOperation,
    onResponse({ request, response, serverContext }) {
      const entry = facts.get(serverContext as object);
      if (!entry) return;
      response.headers.set(REQUEST_ID_HEADER, entry.id);
      const finished = {
        method: request.method,
        status: response.status,
        durationMs: Number(process.hrtime.bigint() - entry.started) / 1e6,
        operationName: entry.operationName,
      };
      onFinished(finished);
      logger?.info(
        {
          reqId: entry.id,
          ...finished,
          path: new URL(request.url).pathname,
          operationType: entry.operationType,
          userId: entry.userId,
        },
        'request',
      );
    },
  };
}

/**
 * `plugin` with its onRequest hook unable to escape: a hook that throws would end the request
 * outside Yoga, as a 500 `text/plain` carrying the stack, with no log line and no metric. Its
 * failure is logged here and answered as Yoga answers any unexpected error, so the request log
 * (which runs first) sees and counts the answer like any other.
 */
export function withFailuresAnswered(plugin: Plugin, logger: Logger | undefined): Plugin {
  const { onRequest } = plugin;
  if (!onRequest) return plugin;
  return {
    ...plugin,
    async onRequest(payload) {
      try {
        await onRequest(payload);
      } catch (error) {
        logger?.error({ err: error, path: payload.url.pathname }, 'request failed');
        payload.endResponse(Response.json({ errors: [{ message: 'Unexpected error.' }] }, { status: 500 }));
      }
    },
  };
}
