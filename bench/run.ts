import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ServerProcess } from '../harness/server-process.ts';
import { signingKey, signToken } from '../src/auth.ts';
import { type DatasetSize, seedDatabase } from './dataset.ts';
import { assertEquivalent, post } from './equivalence.ts';
import { type LoadResult, runLoad } from './load.ts';
import type { Progress } from './progress.ts';
import { measureReplicationLag, replicatedServer } from './replication.ts';
import { measureRestore, type RestoreFigure } from './restore.ts';
import { type Scenario, type ScenarioName, scenarios } from './scenarios.ts';
import { type ServerKind, startServer } from './servers.ts';
import { countStatements, type StatementCount } from './statements.ts';

/**
 * A server and its process count: `service`, `service ×2` (WORKERS=2), `limit ×2` (node:cluster);
 * `… (replication on)`: with Litestream beside it.
 */
export type MeasuredServer = string;

/** How long a replica may take to ship what a measurement wrote before the next one starts. */
const CATCH_UP_MS = 180_000;

export const REPLICATED_LIMIT: MeasuredServer = 'limit (replication on)';
export const REPLICATED_SERVICE: MeasuredServer = 'service (replication on)';

/**
 * What every ratio is to: the bare limit, at the same process count, without Litestream. Where
 * the limit has two forms (the page: `limit`, a statement per review, and `limit+statement`), the
 * faster of them in each figure: a limit is the fastest hand-written way to the same answer.
 */
export const isLimit = (server: MeasuredServer) => server.startsWith('limit') && server !== REPLICATED_LIMIT;

/**
 * Which scenarios a server is measured at: the cache and FAST_READS=off serve queries only (a
 * mutation through them is the service's figure again); `limit+statement` differs from `limit`
 * in the page alone.
 */
function measures(kind: MeasuredServer, scenario: Scenario): boolean {
  if (kind.startsWith('limit+statement')) return scenario.name === 'page';
  if (kind.startsWith('service+cache') || kind.startsWith('service+ordinary')) return !scenario.write;
  return true;
}

export interface BenchOptions {
  dataset: DatasetSize;
  datasetName: string;
  connections: number[];
  durationSeconds: number;
  scenarios: ScenarioName[];
  servers: ServerKind[];
  /** Process counts each server runs at (WORKERS; the limit forks as many under node:cluster). */
  workers: number[];
  replication: boolean;
  syncInterval: string;
  lagSamples: number;
  restoreSizesMb: number[];
  /** Profile the service (not the cached one) with `node --cpu-prof` into this directory. */
  cpuProfileDir?: string;
}

export interface ThroughputRow extends LoadResult {
  scenario: ScenarioName;
  server: MeasuredServer;
  connections: number;
  /** Processes serving (WORKERS): ratios compare servers of the same count. */
  workers: number;
  /** The largest resident set the server had during this run, all its processes together. */
  peakRssBytes: number;
  /** Each process's resident set at the end of this run (supervisor, writer, workers). */
  processRssBytes: number[];
  /** The server's CPU time per answered request (user + system): steadier than req/s on a busy machine. */
  cpuMsPerRequest: number;
  /**
   * Cores kept busy during the run (CPU time ÷ wall time): the server's, all its processes
   * together, and the load generator's (this process). On a machine of few cores they show
   * what a second server process could have had.
   */
  cores: { server: number; load: number };
  /** rps / the limit's rps at the same scenario and concurrency; null without a limit figure. */
  ratioToLimit: number | null;
  /** The limit's CPU time per request / this server's: the same ratio, measured in CPU time. */
  cpuRatioToLimit: number | null;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  machine: { node: string; platform: string; cpus: number; cpuModel: string };
  options: Omit<BenchOptions, 'cpuProfileDir'>;
  /** Bytes of each scenario's answer, identical from the service and the limit. */
  responseBytes: Partial<Record<ScenarioName, number>>;
  statements: StatementCount[];
  throughput: ThroughputRow[];
  /** Peak resident memory of each server over all its runs. */
  peakRssBytes: Record<MeasuredServer, number>;
  replication: { syncInterval: string; lagMs: { p50: number; p99: number; max: number; samples: number } } | null;
  restore: RestoreFigure[];
}

/** The JWT secret every server of a run shares: tokens are signed by the bench. */
const JWT_SECRET = 'bench-secret-that-is-at-least-32-characters-long';

/** Samples a server's resident memory while `work` runs; returns both. */
async function withPeakRss<T>(server: ServerProcess, work: () => Promise<T>): Promise<[T, number]> {
  let peak = server.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, server.rss());
  }, 200);
  try {
    const result = await work();
    return [result, Math.max(peak, server.rss())];
  } finally {
    clearInterval(timer);
  }
}

export async function runBench(options: BenchOptions, progress: Progress): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const dir = await mkdtemp(join(tmpdir(), 'reviews-bench-'));
  const running: ServerProcess[] = [];
  try {
    const databasePath = join(dir, 'reviews.db');
    progress.step(`seeding ${JSON.stringify(options.dataset)} into ${databasePath}`);
    seedDatabase(databasePath, options.dataset, (done, total) =>
      progress.update(`seeding: ${Math.round((100 * done) / total)} %`),
    );
    progress.step('counting SQL statements per request (in-process, Drizzle logger)');
    const statements = await countStatements(databasePath, options.dataset, JWT_SECRET);
    const token = await signToken({ userId: 'bench-writer', name: 'Bench Writer' }, await signingKey(JWT_SECRET));

    const servers = new Map<MeasuredServer, ServerProcess & { workers: number }>();
    for (const workers of options.workers) {
      // Apollo has no process count of its own to give it.
      for (const kind of options.servers.filter((name) => workers === 1 || name !== 'apollo')) {
        const name = workers === 1 ? kind : `${kind} ×${workers}`;
        progress.step(`starting ${name}`);
        const server = await startServer(kind, {
          databasePath,
          jwtSecret: JWT_SECRET,
          env: { WORKERS: String(workers) },
          ...(kind === 'service' && options.cpuProfileDir && { cpuProfileDir: options.cpuProfileDir }),
        });
        running.push(server);
        servers.set(name, { ...server, workers });
      }
    }
    const chosen = scenarios(options.dataset).filter((s) => options.scenarios.includes(s.name));
    const responseBytes: BenchResult['responseBytes'] = {};
    const atFirstCount = (kind: ServerKind) => servers.get(kind) ?? servers.get(`${kind} ×${options.workers[0]}`);
    const service = atFirstCount('service');
    for (const kind of ['limit', 'limit+statement'] as const) {
      const limit = atFirstCount(kind);
      if (!service || !limit) continue;
      for (const scenario of chosen.filter((s) => measures(kind, s))) {
        responseBytes[scenario.name] = await assertEquivalent(
          scenario,
          service.graphqlUrl,
          limit.graphqlUrl,
          databasePath,
          token,
        );
        progress.step(`${scenario.name}: ${kind} answers with the service's exact bytes`);
      }
    }
    for (const [name, server] of servers) {
      if (name.startsWith('limit')) continue;
      await assertSameData(chosen, server, service, token);
    }

    const throughput: ThroughputRow[] = [];
    const measure = async (
      scenario: Scenario,
      name: MeasuredServer,
      server: ServerProcess,
      connections: number,
      workers = 1,
    ) => {
      const label = `${scenario.name} · ${name} · ${connections} conn`;
      progress.update(label);
      const cpuBefore = server.cpuMs();
      const loadCpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      const [load, peakRssBytes] = await withPeakRss(server, () =>
        runLoad({
          url: server.graphqlUrl,
          scenario,
          connections,
          durationSeconds: options.durationSeconds,
          token,
          onTick: (requests) => progress.update(`${label}: ${requests} requests`),
        }),
      );
      const wallMs = performance.now() - startedAt;
      const serverCpuMs = server.cpuMs() - cpuBefore;
      const loadCpu = process.cpuUsage(loadCpuBefore);
      const cpuMsPerRequest = serverCpuMs / Math.max(1, load.requests);
      const cores = { server: serverCpuMs / wallMs, load: (loadCpu.user + loadCpu.system) / 1000 / wallMs };
      progress.step(
        `${label}: ${Math.round(load.rps)} req/s, ${cpuMsPerRequest.toFixed(2)} CPU ms/req, cores ${cores.server.toFixed(2)} + load ${cores.load.toFixed(2)}, p99 ${load.latencyP99Ms} ms, ${Math.round(peakRssBytes / 2 ** 20)} MB RSS` +
          (load.failures ? `, ${load.failures} FAILED` : ''),
      );
      throughput.push({
        ...load,
        scenario: scenario.name,
        server: name,
        connections,
        workers,
        peakRssBytes,
        processRssBytes: server.rssByProcess(),
        cpuMsPerRequest,
        cores,
        ratioToLimit: null,
        cpuRatioToLimit: null,
      });
    };
    for (const scenario of chosen) {
      for (const connections of options.connections) {
        // Servers take turns at each step, so a noisy minute hits them all alike.
        for (const [name, server] of servers) {
          if (measures(name, scenario)) await measure(scenario, name, server, connections, server.workers);
        }
      }
    }

    let replication: BenchResult['replication'] = null;
    const addComment = chosen.find((s) => s.name === 'addComment');
    if (options.replication && addComment) {
      // The limit too, with the same Litestream beside it: on a machine of few cores Litestream's
      // own CPU is a cost of replicating, whatever the server; the pair tells it from the service's.
      const start = async (kind: 'service' | 'limit') => {
        const path = join(dir, `replicated-${kind}.db`);
        // SQLite's backup, not a file copy: the servers above hold the file open, their last
        // writes in its WAL, and a copy taken beside a checkpoint can be torn.
        const source = new Database(databasePath, { readonly: true });
        await source.backup(path).finally(() => source.close());
        progress.step(`starting the ${kind} with REPLICATION=on (sync interval ${options.syncInterval})`);
        const started = await replicatedServer(
          kind,
          path,
          join(dir, `replica-${kind}`),
          options.syncInterval,
          JWT_SECRET,
        );
        running.push(started.server);
        return started;
      };
      const limit = await start('limit');
      const replicated = await start('service');
      // Litestream goes on shipping a run's WAL (hundreds of MB) after it: each run starts once
      // both replicas hold every write, so neither server pays for the other's backlog.
      const caughtUp = () => Promise.all([limit, replicated].map((s) => s.monitor.waitUntilReplicated(CATCH_UP_MS)));
      for (const connections of options.connections) {
        await caughtUp();
        await measure(addComment, REPLICATED_LIMIT, limit.server, connections);
        await caughtUp();
        await measure(addComment, REPLICATED_SERVICE, replicated.server, connections);
      }
      progress.step(`replication lag: ${options.lagSamples} writes, each timed until the replica has it`);
      const lagMs = await measureReplicationLag(
        replicated,
        addComment,
        token,
        options.lagSamples,
        options.syncInterval,
      );
      replication = { syncInterval: options.syncInterval, lagMs };
      progress.step(`replication lag p50 ${lagMs.p50} ms, p99 ${lagMs.p99} ms`);
    }
    for (const server of running.splice(0)) await server.stop();

    const restore: RestoreFigure[] = [];
    for (const sizeMb of options.restoreSizesMb) {
      restore.push(await measureRestore(join(dir, `restore-${sizeMb}mb`), sizeMb, JWT_SECRET, progress));
    }

    for (const row of throughput) {
      const limits = limitRowsBeside(throughput, row);
      const rps = Math.max(0, ...limits.map((r) => r.rps));
      const cpuMs = Math.min(...limits.map((r) => r.cpuMsPerRequest));
      row.ratioToLimit = rps ? row.rps / rps : null;
      row.cpuRatioToLimit = limits.length && row.cpuMsPerRequest ? cpuMs / row.cpuMsPerRequest : null;
    }
    const peakRssBytes: BenchResult['peakRssBytes'] = {};
    for (const row of throughput) peakRssBytes[row.server] = Math.max(peakRssBytes[row.server] ?? 0, row.peakRssBytes);
    const { cpuProfileDir: _profileDir, ...recorded } = options;
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
      },
      options: recorded,
      responseBytes,
      statements,
      throughput,
      peakRssBytes,
      replication,
      restore,
    };
  } finally {
    await Promise.all(running.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** The limit's measurements (each of its forms) of the same scenario, concurrency and process count as `row`. */
export function limitRowsBeside(throughput: ThroughputRow[], row: ThroughputRow): ThroughputRow[] {
  return throughput.filter(
    (r) =>
      isLimit(r.server) &&
      r.workers === row.workers &&
      r.scenario === row.scenario &&
      r.connections === row.connections,
  );
}

/**
 * The peers (Apollo, the cached service) must answer the same data as the service: a faster
 * wrong answer is no figure. Compared as parsed JSON: Apollo formats its bytes its own way.
 */
async function assertSameData(
  chosen: Scenario[],
  server: ServerProcess,
  service: ServerProcess | undefined,
  token: string,
) {
  if (!service || server === service) return;
  for (const scenario of chosen) {
    if (scenario.write) continue;
    const [theirs, ours] = await Promise.all([
      post(server.graphqlUrl, scenario.body(0), token),
      post(service.graphqlUrl, scenario.body(0), token),
    ]);
    if (JSON.stringify(JSON.parse(theirs.text)) !== JSON.stringify(JSON.parse(ours.text))) {
      throw new Error(`${server.name} answers ${scenario.name} differently:\n${theirs.text}\nservice: ${ours.text}`);
    }
  }
}
