import type { IncomingMessage } from 'node:http';
import {
  type DocumentNode,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  getArgumentValues,
  locatedError,
  type OperationDefinitionNode,
} from 'graphql';
import { type FetchAPI, processRegularResult } from 'graphql-yoga';
import type { Authentication } from '../auth.ts';
import type { Context } from '../context.ts';
import { maskError } from './mask-error.ts';
import type { LaneChecks } from './request-rules.ts';

export interface MutationLaneOptions {
  schema: GraphQLSchema;
  /**
   * The request rules' checks (request-rules.ts), as the fast lane holds them: the token's
   * context, the rate limit, durability, the answer's size and the error metric among them.
   */
  checks: LaneChecks;
}

/** A known mutation request, its body read and its viewer known. */
export interface MutationRequest {
  req: IncomingMessage;
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  mediaType: string;
  auth: Authentication;
}

/** An answer as Yoga would send it: status, the headers its errors ask for, the body. */
export interface Written {
  status: number;
  headers: Record<string, string>;
  body: string;
  operation: OperationDefinitionNode;
}

/**
 * A known mutation (one root field whose payload is the row it wrote, src/reads/compile.ts) run
 * without Yoga: the field's own resolver, wrapped by Pothos as Yoga's executor calls it
 * (global ids decoded, input validated, `authScopes` checked), then its payload read back
 * by one statement, then DURABILITY=replicated's wait, each rule asked through its check in
 * request-rules.ts, the function its plugin uses (docs/request-pipeline.md). An error after a
 * commit is masked by the function Yoga's `maskedErrors` option calls.
 *
 * Never a write twice: a request is handed back to Yoga (null) only while nothing has
 * committed. Before the resolver runs that is plain; once it runs, every write it makes is
 * runWrite's one IMMEDIATE transaction, which tells the context when it has committed. A
 * resolver that throws before that (bad input, no such review, an idempotency CONFLICT: each
 * inside a transaction that rolled back) has written nothing, so Yoga runs it again and
 * answers its error with its own bytes; the rate limit is told it has counted the request
 * already. What fails after a commit is answered here, never run again.
 */
export function mutationLane(options: MutationLaneOptions) {
  const { schema, checks } = options;
  const reads = checks.fastReads;
  const rateLimit = checks.rateLimit.limit;
  const mutationType = schema.getMutationType();
  const fetchAPI = { Response: YogaShapedResponse } as unknown as FetchAPI;

  /** Yoga's answer to an execution result (its status, headers and JSON), counted as Yoga counts it. */
  const asYoga = (result: ExecutionResult, mediaType: string, operation: OperationDefinitionNode): Written => {
    if (result.errors) checks.metrics.countErrors(operation, result.errors);
    const { body, init } = processRegularResult(result, fetchAPI, mediaType) as unknown as YogaShapedResponse;
    // Its media type is the lane's to write, as for every answer.
    const { 'Content-Type': _mediaType, ...headers } = init.headers;
    return { status: init.status, headers, body, operation };
  };

  return (request: MutationRequest): Written | null | Promise<Written | null> => {
    const { document, operationName, auth } = request;
    const planned = reads.write(schema, document, operationName, request.variables);
    // Unsigned, read-only: Yoga refuses them before anything runs, with its own bytes.
    if (!planned || !mutationType || auth.kind !== 'user') return null;
    const context = checks.token.contextOf(auth);
    if (context.node.whyReadOnly() !== null) return null;
    const { def, nodes, key } = planned.field;
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(def, nodes[0] as (typeof nodes)[number], planned.variables);
    } catch {
      return null;
    }
    const resolve = def.resolve;
    if (!resolve) return null;
    const info: GraphQLResolveInfo = {
      fieldName: def.name,
      fieldNodes: nodes,
      returnType: def.type,
      parentType: mutationType,
      path: { prev: undefined, key, typename: mutationType.name },
      schema,
      fragments: planned.fragments,
      rootValue: undefined,
      operation: planned.operation,
      variableValues: planned.variables,
    };
    const { operation } = planned;
    const afterCommit = (error: unknown) => {
      const located = locatedError(error, nodes, [key]);
      return asYoga(
        { data: null, errors: [maskError(located, 'Unexpected error.') as GraphQLError] },
        request.mediaType,
        operation,
      );
    };

    const run = async (): Promise<Written | null> => {
      if (rateLimit) {
        const refused = await rateLimit.consume(request.req, auth.viewer, document, operation);
        if (refused) return asYoga({ errors: [refused] }, request.mediaType, operation);
      }
      let committed = false;
      const ctx: Context = { ...context, committed: () => (committed = true) };
      let payload: unknown;
      try {
        const resolved = resolve(undefined, args, ctx, info);
        // Synchronous as the resolvers are: the payload is read back in the turn that committed.
        payload = resolved instanceof Promise ? await resolved : resolved;
      } catch (error) {
        if (committed) return afterCommit(error);
        rateLimit?.counted.add(request.req);
        return null;
      }
      const rowId = (payload as { rowId?: unknown } | null)?.rowId;
      const json = typeof rowId === 'number' ? planned.readBack(rowId, auth.viewer) : null;
      // Committed, and no payload to show for it (the row deleted since): Yoga's answer to a failure.
      if (json === null) return afterCommit(new Error('the written row could not be read back'));
      // DURABILITY=local: nothing to wait for, and no turn waited.
      const waited = checks.durability(ctx.node);
      const unconfirmed = waited && (await waited);
      if (unconfirmed) return asYoga({ data: null, errors: [unconfirmed] }, request.mediaType, operation);
      const body = `{"data":${json}}`;
      if (!checks.documentLimits.answerFits({ serializedLength: () => Buffer.byteLength(body) })) {
        return asYoga({ errors: [checks.documentLimits.tooLarge()] }, request.mediaType, operation);
      }
      return { status: 200, headers: {}, body, operation };
    };
    return run();
  };
}

export type MutationLane = ReturnType<typeof mutationLane>;

/** What Yoga's result processor builds its answer with: the body and status it chose, kept as text. */
class YogaShapedResponse {
  readonly init: { status: number; headers: Record<string, string> };

  constructor(
    readonly body: string,
    init: { status?: number; headers?: Record<string, string> },
  ) {
    this.init = { status: init.status ?? 200, headers: init.headers ?? {} };
  }
}
