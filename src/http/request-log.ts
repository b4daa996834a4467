import { randomUUID } from 'node:crypto';
import { getOperationAST, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { Logger } from '../logger.ts';
import type { FinishedRequest } from './metrics.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept only if it is short and plain: it ends up in logs and headers. */
const ACCEPTABLE_REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface RequestFacts {
  id: string;
  started: bigint;
  operationName?: string;
  operationType?: string;
  userId?: string;
}

/** What an answered request adds to its facts for the log line: the answer and the request. */
interface Answered {
  method: string;
  status: number;
  path: string;
}

/**
 * One JSON log line per request (method, path, status, duration, operation, user id; never
 * the token), and its request id for the `x-request-id` response header: the caller's, if it
 * sent an acceptable one, so a trace crosses the load balancer, else a new one. Used by the
 * plugin below and by the fast lane (src/http/fast-lane.ts), so both log and count alike.
 */
export function requestLog(logger: Logger | undefined, onFinished: (request: FinishedRequest) => void) {
  return {
    begin(incomingId: string | null | undefined): RequestFacts {
      return {
        id: incomingId && ACCEPTABLE_REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
        started: process.hrtime.bigint(),
      };
    },
    end(entry: RequestFacts, { method, status, path }: Answered): void {
      const finished = {
        method,
        status,
        durationMs: Number(process.hrtime.bigint() - entry.started) / 1e6,
        operationName: entry.operationName,
      };
      onFinished(finished);
      logger?.info(
        { reqId: entry.id, ...finished, path, operationType: entry.operationType, userId: entry.userId },
        'request',
      );
    },
  };
}

export type RequestLog = ReturnType<typeof requestLog>;

/** The operation a request ran, as the log line names it. */
export function noteOperation(
  entry: RequestFacts,
  operation: OperationDefinitionNode | null | undefined,
  operationName: string | null | undefined,
  viewer: { id: string } | null | undefined,
): void {
  entry.operationName = operation?.name?.value ?? operationName ?? 'Anonymous';
  entry.operationType = operation?.operation;
  entry.userId = viewer?.id;
}

/**
 * The request log as a plugin (requestLog). The facts are kept per server context: GraphQL's
 * context is that object and SOFA's inherits from it, so a REST request (whose Request SOFA
 * replaces) is found the same way.
 */
export function useRequestLog(
  logger: Logger | undefined,
  onFinished: (request: FinishedRequest) => void,
  log: RequestLog = requestLog(logger, onFinished),
): Plugin {
  const facts = new WeakMap<object, RequestFacts>();
  const factsOf = (context: object): RequestFacts | undefined =>
    facts.get(context) ?? facts.get(Object.getPrototypeOf(context) as object);
  const onOperation = ({
    args,
  }: {
    args: { contextValue: unknown; document: unknown; operationName?: string | null };
  }) => {
    const context = args.contextValue as Partial<Context> & object;
    const entry = factsOf(context);
    if (!entry) return;
    const operation = getOperationAST(args.document as Parameters<typeof getOperationAST>[0], args.operationName);
    noteOperation(entry, operation, args.operationName, context.viewer);
  };
  return {
    onRequest({ request, serverContext }) {
      facts.set(serverContext as object, log.begin(request.headers.get(REQUEST_ID_HEADER)));
    },
    onExecute: onOperation,
    onSubscribe: onOperation,
    onResponse({ request, response, serverContext }) {
      const entry = facts.get(serverContext as object);
      if (!entry) return;
      response.headers.set(REQUEST_ID_HEADER, entry.id);
      log.end(entry, { method: request.method, status: response.status, path: new URL(request.url).pathname });
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
