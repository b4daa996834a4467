import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { Counter, type Registry } from 'prom-client';
import type { Authentication, Viewer } from '../auth.ts';
import { answerBody, answerLength, type FastReads } from '../reads/plugin.ts';
import { bodyLengthRefusal } from './body-limit.ts';
import type { CorsRule } from './cors.ts';
import { wasPreflighted } from './csrf.ts';
import { type HttpCacheRule, NOT_SHARED } from './http-cache.ts';
import { answerFits, type CostLimit } from './limits.ts';
import type { MutationLane } from './mutation-lane.ts';
import type { RequestedDocument } from './persisted-operations.ts';
import { isRateLimited } from './rate-limit.ts';
import { noteOperation, REQUEST_ID_HEADER, type RequestFacts, type RequestLog } from './request-log.ts';

export interface FastLaneOptions {
  schema: GraphQLSchema;
  endpoint: string;
  maxBodyBytes: number;
  maxResponseBytes: number;
  /** The app's own: who a bearer token names, exactly as Yoga's context reads it. */
  authenticate: (authorization: string | null) => Authentication | Promise<Authentication>;
  reads: FastReads;
  /** Known mutations (src/http/mutation-lane.ts). */
  mutations: MutationLane;
  cost: CostLimit;
  documentOf: (request: RequestedDocument) => string | null;
  httpCache: HttpCacheRule;
  cors: CorsRule;
  log: RequestLog;
  registry: Registry;
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Request bodies the lane reads: JSON as every GraphQL client posts it; other forms go to Yoga. */
const JSON_BODIES = new Set(['application/json', 'application/json; charset=utf-8']);

/**
 * The media type of the answer, by the Accept header exactly as sent (Yoga's choice for each, see
 * its result processors); any other Accept (SSE, multipart, lists with weights) goes to Yoga.
 */
const ANSWER_TYPES = new Map([
  ['*/*', 'application/json'],
  ['application/json', 'application/json'],
  ['application/graphql-response+json', 'application/graphql-response+json'],
]);

/** The members of a GraphQL-over-HTTP body; one with another is left to Yoga. */
const PARAMS = new Set(['query', 'operationName', 'variables', 'extensions']);

/**
 * FAST_READS: a query whose document already ran compiled (src/reads/: Yoga parsed, validated
 * and weighed it once) is answered here, on node:http, without Yoga's per-request machinery:
 * its text is looked up, its variables coerced, its statement run, its JSON written. Every
 * rule Yoga applies per request is asked here through the same function: CSRF (csrf.ts), CORS
 * (cors.ts), the body limit (body-limit.ts), persisted documents and APQ (persisted-operations.ts),
 * the bearer token, the cost limit and its budget, the answer's size (limits.ts), the mutation
 * rate limit (rate-limit.ts), the HTTP cache (http-cache.ts), the request log and metrics
 * (request-log.ts). Whatever the lane is not sure of (another method, path, content type or
 * Accept, a body without Content-Length, an unknown document or extension, an answer that
 * would be an error) goes to `yoga` unchanged, with the body it read.
 */
export function fastLane(options: FastLaneOptions) {
  const { endpoint, maxBodyBytes } = options;
  const answers = new Counter({
    name: 'reviews_api_fast_lane_total',
    help: 'GraphQL requests the fast lane answered itself, in front of Yoga',
    registers: [options.registry],
  });

  /** Sends the answer, or hands the request to Yoga with the body read. */
  const reply = (request: LaneRequest, answer: Answer | null) => {
    const { req, res, facts } = request;
    if (answer === null) return fallBack(request);
    noteOperation(facts, answer.operation, answer.operationName, answer.viewer);
    res.writeHead(answer.status, {
      ...answer.headers,
      ...options.cors.answerHeaders(req.headers.origin),
      'content-type': `${request.mediaType}; charset=utf-8`,
      'content-length': bodyLength(answer.body),
      [REQUEST_ID_HEADER]: facts.id,
      'cache-control': NOT_SHARED,
    });
    if (typeof answer.body === 'string') res.end(answer.body);
    else {
      // One write to the socket (writev), however many pieces.
      res.cork();
      for (const piece of answer.body) res.write(piece);
      res.end();
    }
    options.reads.laneAnswered(answer.operationName, answer.operation);
    answers.inc();
    options.log.end(facts, { method: req.method as string, status: answer.status, path: endpoint });
  };

  // Unsure: Yoga answers (a read is run again; a write only if nothing committed, see
  // mutation-lane.ts), or the client is told nothing.
  const failed = (request: LaneRequest) => {
    if (!request.res.headersSent) fallBack(request);
    else request.res.destroy();
  };

  /** Most answers come without waiting a turn: no token to verify, no cost budget to wait for. */
  const run = (request: LaneRequest) => {
    try {
      const answer = answered(options, request);
      if (answer instanceof Promise) answer.then((ready) => reply(request, ready)).catch(() => failed(request));
      else reply(request, answer);
    } catch {
      failed(request);
    }
  };

  return (req: IncomingMessage, res: ServerResponse, yoga: NodeHandler): void => {
    const { headers } = req;
    const contentType = headers['content-type'];
    const mediaType = ANSWER_TYPES.get(headers.accept ?? '*/*');
    if (
      req.method !== 'POST' ||
      req.url !== endpoint ||
      mediaType === undefined ||
      contentType === undefined ||
      !JSON_BODIES.has(contentType) ||
      headers['content-length'] === undefined ||
      bodyLengthRefusal(headers['content-length'], maxBodyBytes) !== null ||
      !wasPreflighted(contentType, (name) => headers[name] !== undefined)
    ) {
      yoga(req, res);
      return;
    }
    const facts = options.log.begin(headers[REQUEST_ID_HEADER] as string | undefined);
    const request: LaneRequest = { req, res, yoga, mediaType, facts, body: EMPTY };
    // A read worker has read the body to decide it may answer (src/cluster/reader.ts).
    const read = (req as IncomingMessage & { body?: unknown }).body;
    if (Buffer.isBuffer(read)) {
      request.body = read;
      run(request);
      return;
    }
    // The whole body: Node frames it by its Content-Length.
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      request.body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      run(request);
    });
    // The client went away before its body was in: nothing to answer.
    req.once('error', () => res.destroy());
  };
}

const EMPTY = Buffer.alloc(0);

interface LaneRequest {
  req: IncomingMessage;
  res: ServerResponse;
  yoga: NodeHandler;
  mediaType: string;
  facts: RequestFacts;
  body: Buffer;
}

function bodyLength(body: Answer['body']): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.reduce((sum, piece) => sum + piece.length, 0);
}

function fallBack({ req, res, yoga, body }: LaneRequest) {
  // Yoga's Node adapter takes a body already read from `req.body` (whatwg-node's normalizeNodeRequest).
  (req as IncomingMessage & { body?: Buffer }).body = body;
  yoga(req, res);
}

interface Answer {
  status: number;
  /** Beyond the lane's own: those an error asks for (Retry-After). */
  headers: Record<string, string>;
  /** A read's is the bytes SQLite wrote, in pieces sent as they are: never a string of several MB. */
  body: string | readonly Buffer[];
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  viewer: Viewer | null;
}

/** The answer's text, or null when Yoga must answer; a promise only when it must wait. */
function answered(
  options: FastLaneOptions,
  { req, body, mediaType }: LaneRequest,
): Answer | null | Promise<Answer | null> {
  let params: unknown;
  try {
    params = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return null;
  for (const key in params) if (!PARAMS.has(key)) return null;
  const { query, operationName, variables, extensions } = params as Record<string, unknown>;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables)))
    return null;
  const text = options.documentOf({ query, extensions });
  const document = text === null ? undefined : options.reads.known(text);
  if (text === null || document === undefined) return null;
  const known: Known = {
    req,
    text,
    document,
    operationName: operationName ?? undefined,
    variables: (variables ?? {}) as Record<string, unknown>,
    mediaType,
    authorized: req.headers.authorization !== undefined,
  };
  const auth = options.authenticate(req.headers.authorization ?? null);
  return auth instanceof Promise ? auth.then((ready) => weighed(options, known, ready)) : weighed(options, known, auth);
}

/** A request for a document the lane knows, its body read. */
interface Known {
  req: IncomingMessage;
  text: string;
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  mediaType: string;
  authorized: boolean;
}

/** Past the cost limit, on its budget (waiting for its turn, as the plugin does, when it is spent). */
function weighed(options: FastLaneOptions, known: Known, auth: Authentication): Answer | null | Promise<Answer | null> {
  const { schema, cost } = options;
  const verdict = cost.verdictFor(schema, known.document, known.operationName, known.variables);
  if (verdict.refusal) return null;
  const turn = cost.budget.take(verdict.cost);
  // Held until the answer is ready: a write's until it is replicated, as the plugin holds it.
  const execute = () => {
    let answer: Answer | null | Promise<Answer | null>;
    try {
      answer = executed(options, known, auth);
    } catch (error) {
      cost.budget.give(verdict.cost);
      throw error;
    }
    if (answer instanceof Promise) return answer.finally(() => cost.budget.give(verdict.cost));
    cost.budget.give(verdict.cost);
    return answer;
  };
  return turn ? turn.then(execute) : execute();
}

function executed(
  options: FastLaneOptions,
  known: Known,
  auth: Authentication,
): Answer | null | Promise<Answer | null> {
  const viewer = auth.kind === 'user' ? auth.viewer : null;
  const { operationName } = known;
  const read = options.reads.answer(options.schema, known.document, operationName, known.variables, viewer);
  if (read === null) {
    const written = options.mutations({ ...known, auth });
    const asAnswer = (answer: Awaited<typeof written>): Answer | null => answer && { ...answer, operationName, viewer };
    return written instanceof Promise ? written.then(asAnswer) : asAnswer(written);
  }
  if (isRateLimited(read.operation)) return null;
  const result = { serializedLength: () => answerLength(read.json) };
  if (!answerFits(result, options.maxResponseBytes)) return null;
  // A shared answer needs its ETag and 304: Yoga's (useHttpCache) builds those.
  const shareable = options.httpCache.isShareable({
    method: 'POST',
    authorized: known.authorized,
    status: 200,
    succeeded: true,
    query: known.text,
    contentType: `${known.mediaType}; charset=utf-8`,
  });
  if (shareable) return null;
  return { status: 200, headers: {}, body: answerBody(read.json), operation: read.operation, operationName, viewer };
}
