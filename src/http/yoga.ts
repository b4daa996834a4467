import { createYoga, type YogaServerInstance, type YogaServerOptions } from 'graphql-yoga';
import { type Context, standalonePrimary } from '../context.ts';
import { documentTextCache } from '../document-cache.ts';
import { singleProcess } from '../host/single-process.ts';
import { schema } from '../schema/index.ts';
import { MAX_BATCH_OPERATIONS } from './batching.ts';
import { GRAPHIQL_DEFAULT_DOCUMENT } from './examples.ts';
import { fastLane } from './fast-lane.ts';
import { maskError } from './mask-error.ts';
import { mutationLane } from './mutation-lane.ts';
import {
  type AppOptions,
  laneChecks,
  type NodeHandler,
  type RequestRules,
  requestRules,
  yogaPlugins,
} from './request-rules.ts';
import { GRAPHQL_PATH, HEALTH_PATH } from './routes.ts';

/**
 * The service's HTTP surface, one object with two ways in. `handle` is Node's (req, res)
 * handler, as node:http, the read worker, the writer's socket and the failover node call it:
 * the lanes first (when on), Yoga for what they hand on. `fetch` is Yoga alone.
 */
export interface App {
  readonly handle: NodeHandler;
  readonly fetch: YogaServerInstance<Record<string, unknown>, Context>['fetch'];
}

/** Parsed documents (and parse errors) kept by text: Yoga's count, and at most this many bytes. */
const PARSED_DOCUMENTS = 1024;
const PARSED_DOCUMENT_BYTES = 32 * 1024 * 1024;

/**
 * The whole HTTP surface: /graphql (GraphiQL on GET from a browser), /graphql/stream, /api/…,
 * /health, /ready, /metrics. Every per-request rule is declared once in request-rules.ts:
 * Yoga runs their plugins in that order, and with FAST_READS on (and no RESPONSE_CACHE) the
 * lanes (fast-lane.ts, mutation-lane.ts) ask the same rules' checks (docs/request-pipeline.md).
 */
export function createApp(options: AppOptions): App {
  const { db, node = standalonePrimary, host = singleProcess } = options;
  const rules = requestRules(options);
  // WORKERS > 1: the writer's read workers follow the file and the state of its newest app.
  host.appServed(db, node);
  const yoga = yogaOf(rules, options);
  const toYoga: NodeHandler = (req, res) => void yoga(req, res);
  const checks = laneChecks(rules, options.config);
  if (!checks) return { handle: toYoga, fetch: yoga.fetch };
  const lane = fastLane({
    schema,
    endpoint: GRAPHQL_PATH,
    checks,
    mutations: mutationLane({ schema, checks }),
  });
  return { handle: (req, res) => lane(req, res, toYoga), fetch: yoga.fetch };
}

/** Yoga over the rules' plugins, and those alone. */
export function yogaOf(rules: RequestRules, options: AppOptions) {
  return createYoga<Record<string, unknown>, Context>({ ...yogaOptions(options), plugins: yogaPlugins(rules) });
}

/** Yoga's own options: those no request rule replaces. */
export function yogaOptions({ config, logger }: AppOptions) {
  return {
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: HEALTH_PATH,
    landingPage: false,
    // Yoga's own lets every origin in with credentials: the rules' corsPreflight and corsHeaders ask CORS_ORIGINS.
    cors: false,
    // The rules' bodyLimit enforces MAX_BODY_BYTES at a fraction of the cost.
    maxRequestBodySize: false,
    // Each operation of a batch weighed, rate limited and size limited as if sent alone.
    batching: { limit: MAX_BATCH_OPERATIONS },
    // Bounded by bytes too, and long documents not kept (src/document-cache.ts).
    parserAndValidationCache: {
      documentCache: documentTextCache(PARSED_DOCUMENTS, PARSED_DOCUMENT_BYTES),
      errorCache: documentTextCache(PARSED_DOCUMENTS, PARSED_DOCUMENT_BYTES),
    },
    logging: logger ?? false,
    // The mutation lane masks an error after a commit with the same function.
    maskedErrors: { maskError },
    graphiql: config.graphiql && { title: 'Reviews API', defaultQuery: GRAPHIQL_DEFAULT_DOCUMENT },
    // Served from the package: Yoga's default page loads its scripts from a CDN. Imported on the
    // first page only: the bundle costs about 80 MB of resident memory, and production serves none.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
  } satisfies YogaServerOptions<Record<string, unknown>, Context>;
}
