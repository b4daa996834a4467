import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { Counter } from 'prom-client';
import type { Authentication, Viewer } from '../auth.ts';
import { answerBody, answerLength } from '../reads/plugin.ts';
import type { MutationLane } from './mutation-lane.ts';
import { noteOperation, REQUEST_ID_HEADER, type RequestFacts } from './request-log.ts';
import type { LaneChecks, NodeHandler } from './request-rules.ts';

export interface FastLaneOptions {
  schema: GraphQLSchema;
  endpoint: string;
  /** The request rules' checks (request-rules.ts): what Yoga's plugins ask, asked here too. */
  checks: LaneChecks;
  /** Known mutations (src/http/mutation-lane.ts). */
  mutations: MutationLane;
}

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
 * its text is looked up, its variables coerced, its statement run, its JSON written.
 *
 * The contract (docs/request-pipeline.md): the lane answers only a JSON POST to /graphql of a
 * document it knows, whose answer is a success, and only after asking every rule of
 * request-rules.ts that has a lane check, through that check (`options.checks`): the request
 * log and metrics, the token, the body limit, CSRF, cost and its budget, the answer's size,
 * the rate limit, persisted documents, the HTTP cache, durability, CORS. Everything else goes
 * to `yoga` unchanged, with the body it read: another method, path, content type or Accept, a
 * body without Content-Length or past the limit, a refusal, a batch, an unknown document,
 * member or extension, an answer that would be an error — whatever a Yoga-only rule would see.
 */
export function fastLane(options: FastLaneOptions) {
  const { endpoint, checks } = options;
  const answers = new Counter({
    name: 'reviews_api_fast_lane_total',
    help: 'GraphQL requests the fast lane answered itself, in front of Yoga',
    registers: [checks.metrics.registry],
  });

  /** Sends the answer, or hands the request to Yoga with the body read. */
  const reply = (request: LaneRequest, answer: Answer | null) => {
    const { req, res, facts } = request;
    if (answer === null) return fallBack(request);
    noteOperation(facts, answer.operation, answer.operationName, answer.viewer);
    res.writeHead(answer.status, {
      ...answer.headers,
      ...checks.corsHeaders.answerHeaders(req.headers.origin),
      'content-type': `${request.mediaType}; charset=utf-8`,
      'content-length': bodyLength(answer.body),
      [REQUEST_ID_HEADER]: facts.id,
      // Only a GET is ever shared: every answer here is to a POST.
      'cache-control': checks.httpCache,
    });
    if (typeof answer.body === 'string') res.end(answer.body);
    else {
      // One write to the socket (writev), however many pieces.
      res.cork();
      for (const piece of answer.body) res.write(piece);
      res.end();
    }
    checks.fastReads.laneAnswered(answer.operationName, answer.operation);
    answers.inc();
    checks.requestLog.end(facts, { method: req.method as string, status: answer.status, path: endpoint });
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
      checks.bodyLimit(headers['content-length']) !== null ||
      !checks.csrf(contentType, (name) => headers[name] !== undefined)
    ) {
      yoga(req, res);
      return;
    }
    const facts = checks.requestLog.begin(headers[REQUEST_ID_HEADER] as string | undefined);
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
  const { checks } = options;
  const text = checks.persistedDocuments({ query, extensions });
  const document = text === null ? undefined : checks.fastReads.known(text);
  if (document === undefined) return null;
  const known: Known = {
    req,
    document,
    operationName: operationName ?? undefined,
    variables: (variables ?? {}) as Record<string, unknown>,
    mediaType,
  };
  const auth = checks.token.authenticate(req.headers.authorization ?? null);
  return auth instanceof Promise ? auth.then((ready) => weighed(options, known, ready)) : weighed(options, known, auth);
}

/** A request for a document the lane knows, its body read. */
interface Known {
  req: IncomingMessage;
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  mediaType: string;
}

/** Past the cost limit, on its budget (waiting for its turn, as the plugin does, when it is spent). */
function weighed(options: FastLaneOptions, known: Known, auth: Authentication): Answer | null | Promise<Answer | null> {
  const { schema } = options;
  const { cost } = options.checks.documentLimits;
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
  const { checks } = options;
  const viewer = auth.kind === 'user' ? auth.viewer : null;
  const { operationName } = known;
  const read = checks.fastReads.answer(options.schema, known.document, operationName, known.variables, viewer);
  if (read === null) {
    const written = options.mutations({ ...known, auth });
    const asAnswer = (answer: Awaited<typeof written>): Answer | null => answer && { ...answer, operationName, viewer };
    return written instanceof Promise ? written.then(asAnswer) : asAnswer(written);
  }
  // A query is never counted; should one ever be, Yoga counts it.
  if (checks.rateLimit.counts(read.operation)) return null;
  if (!checks.documentLimits.answerFits({ serializedLength: () => answerLength(read.json) })) return null;
  return { status: 200, headers: {}, body: answerBody(read.json), operation: read.operation, operationName, viewer };
}
