import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_JWT_SECRET, loadConfig } from '../../src/config.ts';
import { corsRule } from '../../src/http/cors.ts';

describe('loadConfig', () => {
  it('needs nothing in development and uses the documented defaults', () => {
    const result = loadConfig({});
    expect(result).toEqual({
      ok: true,
      config: {
        env: 'development',
        port: 4000,
        host: '127.0.0.1',
        databasePath: './data/reviews.db',
        replicaUrl: './data/replica',
        replicaEndpoint: undefined,
        replication: true,
        replicaSyncInterval: '1s',
        replicaMonitorInterval: '250ms',
        replicaSnapshotInterval: '1h',
        replicaRetention: '72h',
        litestreamMetricsAddr: undefined,
        jwtSecret: DEVELOPMENT_JWT_SECRET,
        jwtMaxLifetimeSeconds: 86_400,
        leaseUrl: undefined,
        heartbeatIntervalMs: 500,
        heartbeatMisses: 3,
        standbyMaxLagMs: 10_000,
        rateLimit: true,
        rateLimitUserPerMinute: 60,
        rateLimitIpPerMinute: 300,
        maxDepth: 8,
        maxAliases: 15,
        maxTokens: 2000,
        maxDirectives: 10,
        maxCost: 20_000,
        requestTimeoutMs: 10_000,
        maxResponseBytes: 16 * 1_048_576,
        maxSubscriptions: 200,
        maxSubscriptionsPerAddress: 10,
        trustedProxies: [],
        corsOrigins: 'loopback',
        subscriptionIdleMs: 300_000,
        graphiql: true,
        responseCache: false,
        httpCache: true,
        httpCacheMaxAge: 5,
        httpCacheStaleWhileRevalidate: 10,
        trustedDocuments: false,
        trustedDocumentsManifest: undefined,
        fastReads: true,
        maxBodyBytes: 1_048_576,
        durability: 'local',
        durabilityTimeoutMs: 5000,
        durabilityPollMs: 20,
        logLevel: 'info',
        workers: availableParallelism(),
      },
    });
  });

  it('reads every variable', () => {
    const result = loadConfig({
      PORT: '8080',
      HOST: '::1',
      DATABASE_PATH: '/srv/reviews.db',
      REPLICA_URL: 's3://bucket/reviews',
      REPLICA_ENDPOINT: 'http://127.0.0.1:9000',
      REPLICATION: 'off',
      REPLICA_SYNC_INTERVAL: '250ms',
      JWT_SECRET: 'x'.repeat(32),
      LEASE_URL: 'etcd://127.0.0.1:2379/reviews/lease',
      HEARTBEAT_INTERVAL_MS: '200',
      HEARTBEAT_MISSES: '5',
      RATE_LIMIT: 'off',
      RESPONSE_CACHE: 'on',
      HTTP_CACHE: 'off',
      HTTP_CACHE_MAX_AGE: '30',
      HTTP_CACHE_STALE_WHILE_REVALIDATE: '0',
      TRUSTED_DOCUMENTS: 'on',
      TRUSTED_DOCUMENTS_MANIFEST: '/srv/manifest.json',
      FAST_READS: 'off',
      MAX_BODY_BYTES: '2048',
      DURABILITY: 'replicated',
    });
    expect(result.ok && result.config).toMatchObject({
      port: 8080,
      host: '::1',
      databasePath: '/srv/reviews.db',
      replicaUrl: 's3://bucket/reviews',
      replicaEndpoint: 'http://127.0.0.1:9000',
      replication: false,
      replicaSyncInterval: '250ms',
      jwtSecret: 'x'.repeat(32),
      leaseUrl: 'etcd://127.0.0.1:2379/reviews/lease',
      heartbeatIntervalMs: 200,
      heartbeatMisses: 5,
      rateLimit: false,
      responseCache: true,
      httpCache: false,
      httpCacheMaxAge: 30,
      httpCacheStaleWhileRevalidate: 0,
      trustedDocuments: true,
      trustedDocumentsManifest: '/srv/manifest.json',
      fastReads: false,
      maxBodyBytes: 2048,
      durability: 'replicated',
    });
  });

  it('names every bad variable at once', () => {
    const result = loadConfig({
      PORT: 'eighty',
      REPLICATION: 'yes',
      REPLICA_SYNC_INTERVAL: 'soon',
      DURABILITY: 'eventually',
      LEASE_URL: 'zookeeper://x',
      REPLICA_URL: 'gs://bucket',
      FAST_READS: 'fast',
      STANDBY_MAX_LAG: '10',
    });
    expect(result.ok).toBe(false);
    const names = (result.ok ? [] : result.errors).map((error) => error.split(':')[0]);
    expect(names.sort()).toEqual(
      [
        'DURABILITY',
        'FAST_READS',
        'LEASE_URL',
        'PORT',
        'REPLICATION',
        'REPLICA_SYNC_INTERVAL',
        'REPLICA_URL',
        'STANDBY_MAX_LAG',
      ].sort(),
    );
  });

  it('runs one process per core unless WORKERS says, and refuses a WORKERS that is no count', () => {
    expect(loadConfig({ WORKERS: '1' })).toMatchObject({ ok: true, config: { workers: 1 } });
    expect(loadConfig({ WORKERS: '3' })).toMatchObject({ ok: true, config: { workers: 3 } });
    for (const bad of ['0', 'many', '1.5']) {
      const result = loadConfig({ WORKERS: bad });
      expect(result.ok ? [] : result.errors.map((error) => error.split(':')[0])).toEqual(['WORKERS']);
    }
  });

  it('looks at the WAL every 250 ms, or every sync interval when shorter, unless REPLICA_MONITOR_INTERVAL says', () => {
    expect(loadConfig({})).toMatchObject({ config: { replicaSyncInterval: '1s', replicaMonitorInterval: '250ms' } });
    expect(loadConfig({ REPLICA_SYNC_INTERVAL: '100ms' })).toMatchObject({
      config: { replicaSyncInterval: '100ms', replicaMonitorInterval: '100ms' },
    });
    expect(loadConfig({ REPLICA_SYNC_INTERVAL: '100ms', REPLICA_MONITOR_INTERVAL: '25ms' })).toMatchObject({
      config: { replicaSyncInterval: '100ms', replicaMonitorInterval: '25ms' },
    });
    expect(loadConfig({ REPLICA_MONITOR_INTERVAL: 'often' })).toEqual({
      ok: false,
      errors: ['REPLICA_MONITOR_INTERVAL: a duration such as 500ms, 1s, 5m or 24h'],
    });
  });

  it('reads how long and how often DURABILITY=replicated waits for the replica', () => {
    const result = loadConfig({ DURABILITY: 'replicated', DURABILITY_TIMEOUT_MS: '2000', DURABILITY_POLL_MS: '10' });
    expect(result.ok && result.config).toMatchObject({
      durability: 'replicated',
      durabilityTimeoutMs: 2000,
      durabilityPollMs: 10,
    });
    const bad = loadConfig({ DURABILITY_TIMEOUT_MS: '0', DURABILITY_POLL_MS: 'often' });
    expect((bad.ok ? [] : bad.errors).map((error) => error.split(':')[0]).sort()).toEqual([
      'DURABILITY_POLL_MS',
      'DURABILITY_TIMEOUT_MS',
    ]);
  });

  it('requires a real JWT_SECRET in production', () => {
    const missing = loadConfig({ NODE_ENV: 'production' });
    expect(missing).toEqual({ ok: false, errors: ['JWT_SECRET: required when NODE_ENV=production'] });
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' }).ok).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40) }).ok).toBe(true);
  });

  it('reads the abuse limits and GRAPHIQL, which is off by default only in production', () => {
    const result = loadConfig({
      RATE_LIMIT_USER_PER_MINUTE: '5',
      RATE_LIMIT_IP_PER_MINUTE: '50',
      MAX_DEPTH: '6',
      MAX_ALIASES: '3',
      MAX_TOKENS: '500',
      MAX_DIRECTIVES: '2',
      MAX_COST: '1000',
      REQUEST_TIMEOUT_MS: '2500',
      GRAPHIQL: 'off',
      JWT_MAX_LIFETIME: '90m',
      STANDBY_MAX_LAG: '2500ms',
      MAX_RESPONSE_BYTES: '65536',
      MAX_SUBSCRIPTIONS: '50',
      MAX_SUBSCRIPTIONS_PER_ADDRESS: '2',
      SUBSCRIPTION_IDLE_MS: '5000',
      TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,fd00::/8',
    });
    expect(result.ok && result.config).toMatchObject({
      rateLimitUserPerMinute: 5,
      rateLimitIpPerMinute: 50,
      maxDepth: 6,
      maxAliases: 3,
      maxTokens: 500,
      maxDirectives: 2,
      maxCost: 1000,
      requestTimeoutMs: 2500,
      graphiql: false,
      jwtMaxLifetimeSeconds: 5400,
      standbyMaxLagMs: 2500,
      maxResponseBytes: 65_536,
      maxSubscriptions: 50,
      maxSubscriptionsPerAddress: 2,
      subscriptionIdleMs: 5000,
      trustedProxies: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8'],
    });
    const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40) });
    expect(production.ok && production.config.graphiql).toBe(false);
    const opted = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40), GRAPHIQL: 'on' });
    expect(opted.ok && opted.config.graphiql).toBe(true);
    const bad = loadConfig({
      MAX_DEPTH: '0',
      REQUEST_TIMEOUT_MS: 'soon',
      GRAPHIQL: 'maybe',
      TRUSTED_PROXIES: '127.0.0.1,localhost',
    });
    expect(bad.ok ? [] : bad.errors.map((error) => error.split(':')[0]).sort()).toEqual([
      'GRAPHIQL',
      'MAX_DEPTH',
      'REQUEST_TIMEOUT_MS',
      'TRUSTED_PROXIES',
    ]);
  });

  it('names bad HTTP caching and trusted-documents settings', () => {
    const bad = loadConfig({
      HTTP_CACHE: 'yes',
      HTTP_CACHE_MAX_AGE: '0',
      HTTP_CACHE_STALE_WHILE_REVALIDATE: '-1',
      TRUSTED_DOCUMENTS: '1',
    });
    expect(bad.ok ? [] : bad.errors.map((error) => error.split(':')[0]).sort()).toEqual([
      'HTTP_CACHE',
      'HTTP_CACHE_MAX_AGE',
      'HTTP_CACHE_STALE_WHILE_REVALIDATE',
      'TRUSTED_DOCUMENTS',
    ]);
  });

  it('treats an empty variable as unset', () => {
    const result = loadConfig({ PORT: '', REPLICATION: '' });
    expect(result.ok && [result.config.port, result.config.replication]).toEqual([4000, true]);
  });

  it('reads CORS_ORIGINS: listed origins; unset, loopback ones outside production and none in production', () => {
    const listed = loadConfig({ CORS_ORIGINS: 'https://app.example, http://localhost:5173,http://[::1]:3000' });
    expect(listed.ok && listed.config.corsOrigins).toEqual([
      'https://app.example',
      'http://localhost:5173',
      'http://[::1]:3000',
    ]);
    const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40) });
    expect(production.ok && production.config.corsOrigins).toEqual([]);
    const development = loadConfig({});
    expect(development.ok && development.config.corsOrigins).toBe('loopback');
    for (const bad of ['*', 'app.example', 'https://app.example/', 'https://app.example/path', 'ftp://app.example']) {
      const result = loadConfig({ CORS_ORIGINS: bad });
      expect(result.ok ? [] : result.errors.map((error) => error.split(':')[0]), bad).toEqual(['CORS_ORIGINS']);
    }
  });
});

describe('corsRule', () => {
  const allowedOrigin = (rule: ReturnType<typeof corsRule>, origin: string) =>
    rule.answerHeaders(origin)['access-control-allow-origin'] ?? null;

  it('lets in exactly the listed origins, and by default any port of a loopback host', () => {
    const listed = corsRule(['https://app.example']);
    expect(allowedOrigin(listed, 'https://app.example')).toBe('https://app.example');
    expect(allowedOrigin(listed, 'https://app.example:8443')).toBeNull();
    expect(allowedOrigin(listed, 'http://localhost:5173')).toBeNull();
    const loopback = corsRule('loopback');
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'https://localhost']) {
      expect(allowedOrigin(loopback, origin), origin).toBe(origin);
    }
    for (const origin of ['https://app.example', 'http://localhost.evil.example', 'null']) {
      expect(allowedOrigin(loopback, origin), origin).toBeNull();
    }
    expect(corsRule([]).answerHeaders('http://localhost:5173')).toEqual({ vary: 'Origin' });
  });
});
