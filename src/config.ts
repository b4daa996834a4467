import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { MAX_TOKEN_LIFETIME_SECONDS } from './auth.ts';
import { isAddressOrRange } from './client-address.ts';
import { DURATION, durationMs } from './duration.ts';
import { type CorsOrigins, isOrigin } from './origins.ts';
import { isS3Url } from './replica-url.ts';

/** The development-only signing key: refused when NODE_ENV=production. */
export const DEVELOPMENT_JWT_SECRET = 'reviews-api-development-secret-do-not-use-in-production';

const onOff = z.enum(['on', 'off']).transform((value) => value === 'on');

const port = z.coerce.number().int().min(0).max(65535);

/** Litestream-style durations ("500ms", "1s", "5m", "24h"), kept as text for litestream.yml. */
const duration = z.string().regex(DURATION, 'a duration such as 500ms, 1s, 5m or 24h');

const positiveInt = (min: number) => z.coerce.number().int().min(min);

/** A duration in the same form, as milliseconds. */
const milliseconds = duration.transform(durationMs);

/** `a, b,c` as ['a', 'b', 'c']. */
const commaSeparated = z.string().transform((text) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean),
);

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: port.default(4000),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATABASE_PATH: z.string().min(1).default('./data/reviews.db'),
    REPLICA_URL: z
      .string()
      .min(1)
      .refine((url) => !url.includes('://') || isS3Url(url), 'a directory path or s3://bucket/path')
      .default('./data/replica'),
    REPLICA_ENDPOINT: z.url().optional(),
    REPLICATION: onOff.default(true),
    REPLICA_SYNC_INTERVAL: duration.default('1s'),
    // Unset: the sync interval. Shorter makes DURABILITY=replicated faster at no storage cost.
    REPLICA_MONITOR_INTERVAL: duration.optional(),
    REPLICA_SNAPSHOT_INTERVAL: duration.default('1h'),
    REPLICA_RETENTION: duration.default('72h'),
    LITESTREAM_METRICS_ADDR: z
      .string()
      .regex(/^[^\s:]*:\d{1,5}$/, 'HOST:PORT, e.g. 127.0.0.1:9090')
      .optional(),
    JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    // A token whose `exp` is further ahead than this is refused: a leaked token stops working.
    JWT_MAX_LIFETIME: milliseconds.default(MAX_TOKEN_LIFETIME_SECONDS * 1000),
    LEASE_URL: z
      .string()
      .regex(/^(file:.+|etcd:\/\/[^/]+\/.+)$/, 'file:PATH or etcd://host:port/key')
      .optional(),
    HEARTBEAT_INTERVAL_MS: positiveInt(50).default(500),
    HEARTBEAT_MISSES: positiveInt(1).default(3),
    // A standby whose served data is older than this hands its reads to the primary.
    STANDBY_MAX_LAG: milliseconds.default(10_000),
    RATE_LIMIT: onOff.default(true),
    RATE_LIMIT_USER_PER_MINUTE: positiveInt(1).default(60),
    RATE_LIMIT_IP_PER_MINUTE: positiveInt(1).default(300),
    MAX_DEPTH: positiveInt(1).default(8),
    MAX_ALIASES: positiveInt(1).default(15),
    MAX_TOKENS: positiveInt(100).default(2000),
    MAX_DIRECTIVES: positiveInt(1).default(10),
    MAX_COST: positiveInt(100).default(20_000),
    REQUEST_TIMEOUT_MS: positiveInt(100).default(10_000),
    MAX_RESPONSE_BYTES: positiveInt(1024).default(16 * 1_048_576),
    MAX_SUBSCRIPTIONS: positiveInt(1).default(200),
    MAX_SUBSCRIPTIONS_PER_ADDRESS: positiveInt(1).default(10),
    SUBSCRIPTION_IDLE_MS: positiveInt(1000).default(300_000),
    // The load balancers in front (addresses or CIDR ranges): behind one, a client's address is
    // read from X-Forwarded-For (src/client-address.ts).
    TRUSTED_PROXIES: commaSeparated
      .default([])
      .refine((entries) => entries.every(isAddressOrRange), 'a comma-separated list of addresses or CIDR ranges'),
    // Browser origins whose pages may call the API, credentials included (src/http/cors.ts).
    // Unset: loopback origins outside production, none in production.
    CORS_ORIGINS: commaSeparated
      .refine(
        (entries) => entries.every(isOrigin),
        'a comma-separated list of origins such as https://app.example or http://localhost:5173 (scheme, host, port; no path, no *)',
      )
      .optional(),
    // Unset: GraphiQL in development, none in production.
    GRAPHIQL: onOff.optional(),
    RESPONSE_CACHE: onOff.default(false),
    HTTP_CACHE: onOff.default(true),
    HTTP_CACHE_MAX_AGE: positiveInt(1).default(5),
    HTTP_CACHE_STALE_WHILE_REVALIDATE: positiveInt(0).default(10),
    TRUSTED_DOCUMENTS: onOff.default(false),
    // Unset: the manifest generated from examples/client (npm run client:persisted).
    TRUSTED_DOCUMENTS_MANIFEST: z.string().min(1).optional(),
    FAST_READS: onOff.default(true),
    MAX_BODY_BYTES: positiveInt(1024).default(1_048_576),
    DURABILITY: z.enum(['local', 'replicated']).default('local'),
    DURABILITY_TIMEOUT_MS: positiveInt(100).default(5000),
    DURABILITY_POLL_MS: positiveInt(5).default(20),
    // Unset: one process per core (src/cluster/). 1: a single process, as before workers.
    WORKERS: positiveInt(1).max(256).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required when NODE_ENV=production' });
    }
  });

type Env = z.output<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  port: number;
  host: string;
  databasePath: string;
  replicaUrl: string;
  replicaEndpoint: string | undefined;
  replication: boolean;
  replicaSyncInterval: string;
  /** How often Litestream copies new WAL frames aside (its monitor-interval). */
  replicaMonitorInterval: string;
  replicaSnapshotInterval: string;
  replicaRetention: string;
  /** Where Litestream serves Prometheus metrics; unset: a free loopback port chosen at start. */
  litestreamMetricsAddr: string | undefined;
  jwtSecret: string;
  /** The furthest ahead a token's `exp` may be, in seconds. */
  jwtMaxLifetimeSeconds: number;
  leaseUrl: string | undefined;
  heartbeatIntervalMs: number;
  heartbeatMisses: number;
  /** A standby serves reads itself only while its data is at most this old (ms). */
  standbyMaxLagMs: number;
  rateLimit: boolean;
  /** Mutations (root mutation fields) a user / an IP address may run per minute. */
  rateLimitUserPerMinute: number;
  rateLimitIpPerMinute: number;
  /** Abuse limits on every GraphQL document (src/http/limits.ts, SECURITY.md). */
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  maxCost: number;
  requestTimeoutMs: number;
  /** An answer larger than this is refused (before it is serialised), not sent. */
  maxResponseBytes: number;
  /** Concurrent subscriptions (SSE streams) in all, and per client address. */
  maxSubscriptions: number;
  maxSubscriptionsPerAddress: number;
  trustedProxies: string[];
  /** Browser origins allowed to call the API with credentials; `loopback`: any local port. */
  corsOrigins: CorsOrigins;
  /** A subscription that has delivered nothing for this long is ended. */
  subscriptionIdleMs: number;
  graphiql: boolean;
  responseCache: boolean;
  /** Cache-Control, ETag and 304 for public GET queries (src/http/http-cache.ts); seconds. */
  httpCache: boolean;
  httpCacheMaxAge: number;
  httpCacheStaleWhileRevalidate: number;
  /** Only documents from the manifest run (src/http/persisted-operations.ts). */
  trustedDocuments: boolean;
  trustedDocumentsManifest: string | undefined;
  /** Queries run as compiled statements (src/reads/); off: every query through GraphQL execution. */
  fastReads: boolean;
  maxBodyBytes: number;
  durability: Env['DURABILITY'];
  /** DURABILITY=replicated: how long a mutation waits for the replica, and how often it is checked. */
  durabilityTimeoutMs: number;
  durabilityPollMs: number;
  logLevel: Env['LOG_LEVEL'];
  /** Processes per host: one writer, the rest read workers on the same file (src/cluster/). */
  workers: number;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/**
 * Litestream names a new primary's generation, and so the position its first writes answer
 * with, at its first look at the WAL: one monitor interval after it starts. At the sync
 * interval's 1 s that was a third of a failover; 250 ms costs Litestream ~2 ms of CPU a second
 * idle, and under writes about as much per write as 1 s (docs/operations.md).
 */
const MONITOR_INTERVAL_CAP = '250ms';

function defaultMonitorInterval(syncInterval: string): string {
  return durationMs(syncInterval) < durationMs(MONITOR_INTERVAL_CAP) ? syncInterval : MONITOR_INTERVAL_CAP;
}

/**
 * Reads the configuration from an environment. Pure: it never exits and never reads
 * process.env itself, so every rule is unit tested and every bad variable is named at once.
 */
export function loadConfig(env: Record<string, string | undefined>): ConfigResult {
  // An empty variable means "unset", as in most shells' `VAR= command`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    };
  }
  const e = parsed.data;
  return {
    ok: true,
    config: {
      env: e.NODE_ENV,
      port: e.PORT,
      host: e.HOST,
      databasePath: e.DATABASE_PATH,
      replicaUrl: e.REPLICA_URL,
      replicaEndpoint: e.REPLICA_ENDPOINT,
      replication: e.REPLICATION,
      replicaSyncInterval: e.REPLICA_SYNC_INTERVAL,
      replicaMonitorInterval: e.REPLICA_MONITOR_INTERVAL ?? defaultMonitorInterval(e.REPLICA_SYNC_INTERVAL),
      replicaSnapshotInterval: e.REPLICA_SNAPSHOT_INTERVAL,
      replicaRetention: e.REPLICA_RETENTION,
      litestreamMetricsAddr: e.LITESTREAM_METRICS_ADDR,
      jwtSecret: e.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET,
      jwtMaxLifetimeSeconds: e.JWT_MAX_LIFETIME / 1000,
      leaseUrl: e.LEASE_URL,
      heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
      heartbeatMisses: e.HEARTBEAT_MISSES,
      standbyMaxLagMs: e.STANDBY_MAX_LAG,
      rateLimit: e.RATE_LIMIT,
      rateLimitUserPerMinute: e.RATE_LIMIT_USER_PER_MINUTE,
      rateLimitIpPerMinute: e.RATE_LIMIT_IP_PER_MINUTE,
      maxDepth: e.MAX_DEPTH,
      maxAliases: e.MAX_ALIASES,
      maxTokens: e.MAX_TOKENS,
      maxDirectives: e.MAX_DIRECTIVES,
      maxCost: e.MAX_COST,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      maxResponseBytes: e.MAX_RESPONSE_BYTES,
      maxSubscriptions: e.MAX_SUBSCRIPTIONS,
      maxSubscriptionsPerAddress: e.MAX_SUBSCRIPTIONS_PER_ADDRESS,
      trustedProxies: e.TRUSTED_PROXIES,
      corsOrigins: e.CORS_ORIGINS ?? (e.NODE_ENV === 'production' ? [] : 'loopback'),
      subscriptionIdleMs: e.SUBSCRIPTION_IDLE_MS,
      graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
      responseCache: e.RESPONSE_CACHE,
      httpCache: e.HTTP_CACHE,
      httpCacheMaxAge: e.HTTP_CACHE_MAX_AGE,
      httpCacheStaleWhileRevalidate: e.HTTP_CACHE_STALE_WHILE_REVALIDATE,
      trustedDocuments: e.TRUSTED_DOCUMENTS,
      trustedDocumentsManifest: e.TRUSTED_DOCUMENTS_MANIFEST,
      fastReads: e.FAST_READS,
      maxBodyBytes: e.MAX_BODY_BYTES,
      durability: e.DURABILITY,
      durabilityTimeoutMs: e.DURABILITY_TIMEOUT_MS,
      durabilityPollMs: e.DURABILITY_POLL_MS,
      logLevel: e.LOG_LEVEL,
      workers: e.WORKERS ?? availableParallelism(),
    },
  };
}
