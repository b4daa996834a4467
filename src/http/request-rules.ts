import type { IncomingMessage, ServerResponse } from 'node:http';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { useExtendContext, useReadinessCheck, type YogaServerOptions } from 'graphql-yoga';
import { type Authentication, signingKey, tokenAuthenticator } from '../auth.ts';
import { clientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import { type Context, type NodeState, standalonePrimary } from '../context.ts';
import { type Db, statementLoggerOf } from '../db/client.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { unconfirmedWrites, useDurableMutations } from '../durability/plugin.ts';
import type { Host } from '../host/host.ts';
import { singleProcess } from '../host/single-process.ts';
import type { Logger } from '../logger.ts';
import { createReviewEvents } from '../pubsub.ts';
import { useFastReads } from '../reads/plugin.ts';
import { useCursorScopes } from '../schema/cursors.ts';
import { useNonEmptyBatches } from './batching.ts';
import { bodyLengthRefusal, useBodyLimit } from './body-limit.ts';
import { corsRule, useCorsHeaders, usePreflight } from './cors.ts';
import { useCsrfPrevention, wasPreflighted } from './csrf.ts';
import { graphqlSsePlugins } from './graphql-sse.ts';
import { type HttpCacheConfig, httpCacheRule, NOT_SHARED, useHttpCache } from './http-cache.ts';
import { answerFits, answerTooLarge, costLimit, queryLimitPlugins } from './limits.ts';
import { createMetrics } from './metrics.ts';
import { persistedOperations } from './persisted-operations.ts';
import { isRateLimited } from './rate-limit.ts';
import { requestLog, useRequestLog, withFailuresAnswered } from './request-log.ts';
import { responseCachePlugins } from './response-cache.ts';
import { useRest } from './rest.ts';
import { READY_PATH } from './routes.ts';
import { rateLimitOf, type SecurityConfig } from './security.ts';
import { useSubscriptionLimits } from './subscription-limits.ts';

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

/** A Node request handler: node:http's listener, the read worker's, the failover node's. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A plugin as createYoga takes them (ours read the app's Context). */
type YogaPlugin = NonNullable<YogaServerOptions<Record<string, unknown>, Context>['plugins']>[number];

/** A rule Yoga applies and the lanes ask too: `lane` is what they ask, the same function or value. */
interface LaneRule<Check> {
  plugins: YogaPlugin[];
  lane: Check;
}

/** A rule only Yoga applies: `yogaOnly` says why no request the lanes answer can need it. */
interface YogaOnlyRule {
  plugins: YogaPlugin[];
  yogaOnly: string;
}

type RequestRule = LaneRule<unknown> | YogaOnlyRule;

const applies = <Check>(plugins: YogaPlugin[], lane: Check): LaneRule<Check> => ({ plugins, lane });
const yogaOnly = (plugins: YogaPlugin[], why: string): YogaOnlyRule => ({ plugins, yogaOnly: why });

/**
 * Every rule applied per request, declared once, in the one order Yoga runs their plugins
 * (docs/request-pipeline.md). Each gives its Yoga plugins and either what the lanes
 * (fast-lane.ts, mutation-lane.ts) ask of it — the very function or value its plugin uses — or
 * why only Yoga needs it (the lanes hand every such request to Yoga). Yoga's plugin list is
 * `yogaPlugins(rules)`, the lanes' checks `laneChecks(rules)`: a rule is added here or nowhere.
 */
export function requestRules({ db, config, node = standalonePrimary, logger, host = singleProcess }: AppOptions) {
  const key = signingKey(config.jwtSecret);
  const authenticate = tokenAuthenticator(key, { maxLifetimeSeconds: config.jwtMaxLifetimeSeconds });
  const events = createReviewEvents(host.reviewEvents());
  const contextOf = (auth: Authentication): Context => ({
    db,
    auth,
    viewer: auth.kind === 'user' ? auth.viewer : null,
    node,
    events,
  });
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
  const { maxBodyBytes, maxResponseBytes } = config;
  return {
    // First, so every request (REST and /metrics too) is timed, logged and given its id.
    requestLog: applies([useRequestLog(logger, metrics.observeRequest, log)], log),
    // Yoga's context: the bearer token's verdict. Before the metrics plugin, as Yoga's own
    // `context` option stands before every plugin given to it.
    token: applies(
      [
        useExtendContext(async ({ request }: { request: Request }) =>
          contextOf(await authenticate(request.headers.get('authorization'))),
        ),
      ],
      { authenticate, contextOf },
    ),
    corsPreflight: yogaOnly([usePreflight(cors)], 'an OPTIONS request: the lanes take only POST'),
    // Yoga's own body limit is off (yogaOptions in yoga.ts): this one costs a fraction of it.
    bodyLimit: applies([useBodyLimit(maxBodyBytes)], (length: string | undefined) =>
      bodyLengthRefusal(length, maxBodyBytes),
    ),
    batches: yogaOnly([useNonEmptyBatches()], 'a batch: the lanes hand a JSON array to Yoga'),
    metrics: applies(metrics.plugins, { registry: metrics.registry, countErrors: metrics.countErrors }),
    csrf: applies([useCsrfPrevention()], wasPreflighted),
    // The validation-time limits (aliases, tokens, depth, introspection in production, …) hold
    // for the lanes' documents already: the lanes know only documents that passed them in Yoga.
    // Cost and answer size depend on the request, so the lanes ask those again. The time limit
    // never applies there: a compiled statement or a write runs in one synchronous call.
    documentLimits: applies(queryLimitPlugins(config, cost), {
      cost,
      answerFits: (result: object) => answerFits(result, maxResponseBytes),
      tooLarge: () => answerTooLarge(maxResponseBytes),
    }),
    rateLimit: applies(rateLimit ? [rateLimit.plugin] : [], { counts: isRateLimited, limit: rateLimit }),
    subscriptionLimits: yogaOnly(
      [useSubscriptionLimits(config, clientAddressOf(config.trustedProxies), host.subscriptionSeats(config))],
      'a subscription: the lanes never plan one, and SSE or multipart Accept goes to Yoga',
    ),
    // @defer and @stream, answered in parts over multipart/mixed or SSE by ordinary execution.
    deferStream: yogaOnly(
      [useDeferStream()],
      'an answer in parts: such a document is never compiled, and its Accept goes to Yoga',
    ),
    // graphql-sse's protocol on /graphql/stream; its handler reads the query text itself.
    graphqlSse: yogaOnly(
      config.trustedDocuments ? [] : graphqlSsePlugins(maxBodyBytes),
      'on /graphql/stream: the lanes take only /graphql',
    ),
    // Before the response cache, which keys answers on the document text these fill in.
    persistedDocuments: applies(persisted.plugins, persisted.documentOf),
    // Inside execution, so the compiled reads below still see each cursor as sent.
    cursorScopes: yogaOnly(
      [useCursorScopes()],
      'ordinary execution only: the lanes run compiled statements, which read each cursor whole',
    ),
    // Replaces execution of the queries it compiles; before the cache, so that a cache miss
    // runs the compiled statement (of the document the cache rewrote with its id fields).
    fastReads: applies(reads ? [reads] : [], reads),
    // After the limits: an answer is cached only once its document has passed them.
    responseCache: yogaOnly(
      responseCachePlugins(config, authenticate, host),
      'RESPONSE_CACHE=on turns the lanes off: its hits and keys live in Yoga',
    ),
    // Only an anonymous GET is shared; the lanes take only POST, whose every answer is private.
    httpCache: applies([useHttpCache(config, httpCache)], NOT_SHARED),
    // DURABILITY=replicated: a mutation is answered once the replica has it (or NOT_REPLICATED).
    durability: applies([useDurableMutations(config)], (writer: NodeState) =>
      config.durability === 'replicated' ? unconfirmedWrites(writer) : null,
    ),
    readiness: yogaOnly(
      [useReadinessCheck({ endpoint: READY_PATH, check: () => readiness(db, node) })],
      'on /ready: the lanes take only /graphql',
    ),
    rest: yogaOnly(
      [withFailuresAnswered(useRest({ maxBodyBytes, authenticate }), logger)],
      'on /api/…: the lanes take only /graphql',
    ),
    // Last: its headers go on the answer the plugins above settled on (a 304 too).
    corsHeaders: applies([useCorsHeaders(cors)], cors),
  } satisfies Record<string, RequestRule>;
}

export type RequestRules = ReturnType<typeof requestRules>;

/** What the lanes ask: each rule's check, by the rule's name; the Yoga-only rules are not there. */
export type LaneChecks = {
  [Name in keyof RequestRules as RequestRules[Name] extends LaneRule<unknown>
    ? Name
    : never]: RequestRules[Name] extends LaneRule<infer Check> ? NonNullable<Check> : never;
};

/** Yoga's plugins: every rule's, in the rules' order. */
export function yogaPlugins(rules: RequestRules): YogaPlugin[] {
  return Object.values(rules).flatMap((rule: RequestRule) => rule.plugins);
}

/**
 * The lanes' checks, or null when the lanes are off: FAST_READS=off (nothing is compiled) or
 * RESPONSE_CACHE=on (its hits and keys live in Yoga; a write the lane ran would drop nothing).
 */
export function laneChecks(rules: RequestRules, config: Pick<Config, 'responseCache'>): LaneChecks | null {
  if (!rules.fastReads.lane || config.responseCache) return null;
  const checks = Object.entries(rules).flatMap(([name, rule]: [string, RequestRule]) =>
    'lane' in rule ? [[name, rule.lane]] : [],
  );
  return Object.fromEntries(checks) as LaneChecks;
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
