import { type IncomingMessage, ServerResponse } from 'node:http';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { createYoga, useReadinessCheck } from 'graphql-yoga';
import { type Authentication, signingKey, tokenAuthenticator } from '../auth.ts';
import type { Config } from '../config.ts';
import { type Context, type NodeState, standalonePrimary } from '../context.ts';
import { type Db, statementLoggerOf } from '../db/client.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { documentTextCache } from '../document-cache.ts';
import { useDurableMutations } from '../durability/plugin.ts';
import type { Host } from '../host/host.ts';
import { singleProcess } from '../host/single-process.ts';
import type { Logger } from '../logger.ts';
import { createReviewEvents } from '../pubsub.ts';
import { useFastReads } from '../reads/plugin.ts';
import { useCursorScopes } from '../schema/cursors.ts';
import { schema } from '../schema/index.ts';
import { MAX_BATCH_OPERATIONS, useNonEmptyBatches } from './batching.ts';
import { useBodyLimit } from './body-limit.ts';
import { corsRule, useCorsHeaders, usePreflight } from './cors.ts';
import { GRAPHIQL_DEFAULT_DOCUMENT } from './examples.ts';
import { fastLane, type NodeHandler } from './fast-lane.ts';
import { graphqlSsePlugins } from './graphql-sse.ts';
import { type HttpCacheConfig, httpCacheRule, useHttpCache } from './http-cache.ts';
import { costLimit } from './limits.ts';
import { maskError } from './mask-error.ts';
import { createMetrics } from './metrics.ts';
import { mutationLane } from './mutation-lane.ts';
import { persistedOperations } from './persisted-operations.ts';
import { requestLog, useRequestLog, withFailuresAnswered } from './request-log.ts';
import { responseCachePlugins } from './response-cache.ts';
import { useRest } from './rest.ts';
import { GRAPHQL_PATH, HEALTH_PATH, READY_PATH } from './routes.ts';
import { rateLimitOf, type SecurityConfig, securityPlugins } from './security.ts';

export interface AppOptions {
  db: Db;
  config: Pick<
    Config,
    | 'jwtSecret'
    | 'jwtMaxLifetimeSeconds'
    | 'maxBodyBytes'
    | 'responseCache'
    | 'durability'
    | 'trustedDocuments'
    | 'trustedDocumentsManifest'
    | 'fastReads'
    | 'maxResponseBytes'
    | 'corsOrigins'
  > &
    SecurityConfig &
    HttpCacheConfig;
  node?: NodeState;
  logger?: Logger;
  /** The host this process runs in (src/host/host.ts); a lone process unless its start-up said otherwise. */
  host?: Host;
}

export type App = ReturnType<typeof createApp>;

/** Parsed documents (and parse errors) kept by text: Yoga's count, and at most this many bytes. */
const PARSED_DOCUMENTS = 1024;
const PARSED_DOCUMENT_BYTES = 32 * 1024 * 1024;

/**
 * The whole HTTP surface: /graphql (GraphiQL on GET from a browser), /health, /ready. With
 * FAST_READS on (and no RESPONSE_CACHE, whose hits and keys live in Yoga), a request that
 * reaches it over node:http goes through the fast lane first (src/http/fast-lane.ts): the
 * rules below that apply per request are built once here and shared by both.
 */
export function createApp({ db, config, node = standalonePrimary, logger, host = singleProcess }: AppOptions) {
  const key = signingKey(config.jwtSecret);
  const authenticateRequest = tokenAuthenticator(key, { maxLifetimeSeconds: config.jwtMaxLifetimeSeconds });
  const events = createReviewEvents(host.reviewEvents());
  const metrics = createMetrics(node, host);
  const log = requestLog(logger, metrics.observeRequest);
  const cost = costLimit(config.maxCost);
  const persisted = persistedOperations(config);
  const httpCache = httpCacheRule(config);
  const rateLimit = rateLimitOf(config);
  const cors = corsRule(config.corsOrigins);
  const reads = config.fastReads
    ? useFastReads({ db, sqlLogger: statementLoggerOf(db), registry: metrics.registry, logger })
    : null;
  // WORKERS > 1: the writer's read workers follow the file and the state of its newest app.
  host.appServed(db, node);
  const contextOf = (auth: Authentication): Context => ({
    db,
    auth,
    viewer: auth.kind === 'user' ? auth.viewer : null,
    node,
    events,
  });
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: HEALTH_PATH,
    landingPage: false,
    // Yoga's own lets every origin in with credentials: the two below ask CORS_ORIGINS.
    cors: false,
    // useBodyLimit below enforces MAX_BODY_BYTES at a fraction of the cost.
    maxRequestBodySize: false,
    // Each operation of a batch weighed, rate limited and size limited as if sent alone.
    batching: { limit: MAX_BATCH_OPERATIONS },
    // Bounded by bytes too, and long documents not kept (src/document-cache.ts).
    parserAndValidationCache: {
      documentCache: documentTextCache(PARSED_DOCUMENTS, PARSED_DOCUMENT_BYTES),
      errorCache: documentTextCache(PARSED_DOCUMENTS, PARSED_DOCUMENT_BYTES),
    },
    logging: logger ?? false,
    maskedErrors: { maskError },
    graphiql: config.graphiql && { title: 'Reviews API', defaultQuery: GRAPHIQL_DEFAULT_DOCUMENT },
    // Served from the package: Yoga's default page loads its scripts from a CDN. Imported on the
    // first page only: the bundle costs about 80 MB of resident memory, and production serves none.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    context: async ({ request }) => contextOf(await authenticateRequest(request.headers.get('authorization'))),
    plugins: [
      // First, so every request (REST and /metrics too) is timed, logged and given its id.
      useRequestLog(logger, metrics.observeRequest, log),
      usePreflight(cors),
      useBodyLimit(config.maxBodyBytes),
      useNonEmptyBatches(),
      ...metrics.plugins,
      ...securityPlugins(config, cost, rateLimit, host.subscriptionSeats(config)),
      // @defer and @stream, answered in parts over multipart/mixed or SSE by ordinary execution.
      useDeferStream(),
      // graphql-sse's protocol on /graphql/stream; its handler reads the query text itself.
      ...(config.trustedDocuments ? [] : graphqlSsePlugins(config.maxBodyBytes)),
      // Before the response cache, which keys answers on the document text these fill in.
      ...persisted.plugins,
      // Inside execution, so the compiled reads below still see each cursor as sent.
      useCursorScopes(),
      // Replaces execution of the queries it compiles; before the cache, so that a cache miss
      // runs the compiled statement (of the document the cache rewrote with its id fields).
      ...(reads ? [reads] : []),
      // After the limits: an answer is cached only once its document has passed them.
      ...responseCachePlugins(config, authenticateRequest, host),
      useHttpCache(config, httpCache),
      // DURABILITY=replicated: a mutation is answered once the replica has it (or NOT_REPLICATED).
      useDurableMutations(config),
      useReadinessCheck({
        endpoint: READY_PATH,
        check: () => readiness(db, node),
      }),
      withFailuresAnswered(useRest({ maxBodyBytes: config.maxBodyBytes, authenticate: authenticateRequest }), logger),
      // Last: its headers go on the answer the plugins above settled on (a 304 too).
      useCorsHeaders(cors),
    ],
  });
  if (!reads || config.responseCache) return yoga;
  const lane = fastLane({
    schema,
    endpoint: GRAPHQL_PATH,
    maxBodyBytes: config.maxBodyBytes,
    maxResponseBytes: config.maxResponseBytes,
    authenticate: authenticateRequest,
    reads,
    mutations: mutationLane({
      schema,
      reads,
      contextOf,
      rateLimit,
      durability: config.durability,
      maxResponseBytes: config.maxResponseBytes,
      countErrors: metrics.countErrors,
    }),
    cost,
    documentOf: persisted.documentOf,
    httpCache,
    cors,
    log,
    registry: metrics.registry,
  });
  const yogaHandler: NodeHandler = (req, res) => void yoga(req, res);
  // The same app (fetch, handle, …) for every caller; only a call with Node's (req, res), as
  // node:http, the read worker, the writer's socket and the failover node make it, tries the lane.
  return new Proxy(yoga, {
    apply(target, thisArg, args: unknown[]) {
      const [req, res] = args;
      if (res instanceof ServerResponse) return lane(req as IncomingMessage, res, yogaHandler);
      return Reflect.apply(target, thisArg, args);
    },
  });
}

/**
 * `status` "ready" (200): send this node traffic, its database answers with current data and
 * its migrations are applied; `writable` says whether it takes writes itself. 503 otherwise.
 */
function readiness(db: Db, node: NodeState): Response {
  const body: Record<string, unknown> = { ...node.describe(), writable: node.whyReadOnly() === null };
  let ready = false;
  try {
    const pending = pendingMigrations(db);
    body.database = pending.length === 0 ? 'ok' : 'migrations pending';
    body.pendingMigrations = pending;
    ready = pending.length === 0;
  } catch (error) {
    body.database = `unusable: ${(error as Error).message}`;
  }
  const notReady = node.whyNotReady?.() ?? null;
  if (notReady) {
    ready = false;
    body.notReadyReason = notReady;
  }
  if (!body.writable) body.readOnlyReason = node.whyReadOnly();
  return Response.json({ status: ready ? 'ready' : 'not ready', ...body }, { status: ready ? 200 : 503 });
}
