import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { signingKey, signToken } from '../src/auth.ts';
import { durationMs } from '../src/duration.ts';
import { S3_CREDENTIALS, startS3Emulator } from '../test/support/s3-emulator.ts';
import { type RunningEtcd, startEtcd } from './etcd.ts';
import { LagSampler, ReadYourWrites, type ReadYourWritesFigures, readsBetween, readsPerNode } from './every-node.ts';
import { WriteLoad, type WriteRecord } from './load.ts';
import { type RunningNginx, startNginx } from './nginx.ts';
import { type NodeProcess, startNode } from './node-process.ts';
import { freePort, waitFor } from './ports.ts';
import { copySeeded, type SeededDatabase } from './seeded-database.ts';
import { checkWrites, type WritesVerdict } from './writes-check.ts';

export interface DrillOptions {
  /** Cycles that SIGKILL the primary. */
  killCycles: number;
  /** Cycles that SIGSTOP the primary until the standby has promoted, then SIGCONT it. */
  freezeCycles: number;
  lease: 'file' | 'etcd';
  replica: 's3' | 'directory';
  writers: number;
  readers: number;
  /** Read-your-writes clients (drill/every-node.ts). */
  rywClients: number;
  /** Load before each fault, so there are writes in flight when it strikes. */
  warmupMs: number;
  heartbeatIntervalMs: number;
  heartbeatMisses: number;
  syncInterval: string;
  /** DURABILITY for both nodes: `replicated` answers a mutation only once it is in the replica. */
  durability: 'local' | 'replicated';
  /** WORKERS on both nodes: 1, or a writer and read workers per host (src/cluster/). */
  workers: number;
  /** The whole drill stops (and fails) past this. */
  maxDurationMs: number;
  /** Leave the temp directory (node logs, databases, nginx files) for a post-mortem. */
  keep: boolean;
  /** The database the first primary starts from (--db-size); null: an empty one. */
  seeded: SeededDatabase | null;
  /** REPLICA_SNAPSHOT_INTERVAL for both nodes; null: the default (1h). */
  snapshotInterval: string | null;
  /** Busy-looping processes beside the nodes for the whole drill: a host loaded on purpose. */
  cpuHogs: number;
  /** Standbys beside the primary, all behind nginx as equal upstreams. */
  standbys: number;
}

export interface CycleResult {
  cycle: number;
  fault: 'SIGKILL' | 'SIGSTOP';
  from: string;
  to: string;
  /** Epoch ms: the fault, the last acknowledgement before it, the first after it, the promotion. */
  at: { fault: number; lastAckBefore: number | null; firstAckAfter: number; promoting: number; promoted: number };
  /** Last write acknowledged before the fault → first acknowledged after it, through nginx. */
  rtoMs: number;
  /** Fault → the standby starts promoting (heartbeat misses, or the lease ran out). */
  detectMs: number;
  /** The standby's own promotion (lease, restore, integrity check, replication) by its log. */
  promoteMs: number;
  promoteSteps: Record<string, number>;
  /** Promotions the standby attempted before one succeeded (1: the first did). */
  promoteAttempts: number;
  /** How long the old node, restarted as a standby, took to restore its copy and listen. */
  standbyStartMs: number;
  /** Promoted → the new generation's snapshot in the replica (the window a second fault loses). */
  generationInReplicaMs: number;
  /** Promoted → the restarted node's standby follows that generation (one WAL apply from its head). */
  standbyFollowsMs: number;
  /** Writes the old primary executed after the fault (by the generation their answer names): must be 0. */
  writesOnOldPrimary: number;
  /** A write sent straight to the old node once it is back: its answer (forwarded to the new primary, or READ_ONLY). */
  oldNodeAnswer: string;
  /** Reads through nginx started between the fault and the first write acknowledged after it. */
  readsDuring: { total: number; ok: number };
  /** Acknowledged writes missing from the final database, acknowledged since the previous fault. */
  lostWrites: number;
  /** What write attempts got between the fault and the first acknowledgement, by answer. */
  clientsSaw: Record<string, number>;
}

export interface DrillResult {
  options: DrillOptions;
  startedAt: string;
  durationMs: number;
  cycles: CycleResult[];
  writes: { started: number; acknowledged: number; refused: number; gaveUp: number; perSecond: number };
  /** How long the acknowledged attempt of each write took (retries excluded). */
  mutationLatencyMs: { p50: number; p99: number };
  reads: { total: number; ok: number; failures: Record<string, number> };
  /** Every node serves: the share of answered reads per node, the standbys' lag, read-your-writes. */
  everyNode: {
    readShare: Record<string, number>;
    lagMs: ReturnType<LagSampler['figures']>;
    readYourWrites: ReadYourWritesFigures;
  };
  rpo: Omit<WritesVerdict, 'missing'> & {
    missing: Pick<WriteRecord, 'key' | 'ackedAt' | 'ackedBy'>[];
    /** Acknowledged writes a fault may cost: one sync interval of traffic, in writes. */
    syncIntervalOfTraffic: number;
    /**
     * Every fault lost at most what Litestream 0.3 can lose: a commit waits up to one monitor
     * interval to be noticed and one sync interval to be shipped (both REPLICA_SYNC_INTERVAL).
     */
    withinLitestreamBound: boolean;
  };
  /** Writes ever acknowledged by a node while another held the lease (the split-brain count). */
  splitBrainWrites: number;
  /**
   * What the lease did outside the faults: leases lost by nodes that were never frozen (a
   * healthy primary that could not renew in time), how many of those it took up again itself,
   * and promotions no fault called for (a standby took over from a live primary).
   */
  lease: { unfaultedLosses: number; regained: number; falseFailovers: number };
  /**
   * The guarantees held: no write on a node without the lease, none twice. Lost writes are a
   * figure (rpo), not a failure: how far Litestream lags depends on the host's load.
   */
  ok: boolean;
}

const JWT_SECRET = 'failover-drill-secret-of-at-least-32-characters';

/** Every process the drill started, stopped in reverse order whatever happened. */
class Cleanup {
  #steps: (() => unknown)[] = [];
  add(step: () => unknown) {
    this.#steps.push(step);
  }
  async run() {
    for (const step of this.#steps.reverse()) await Promise.resolve(step()).catch(() => {});
  }
}

export async function runDrill(options: DrillOptions, log: (line: string) => void): Promise<DrillResult> {
  const startedAt = Date.now();
  const cleanup = new Cleanup();
  const deadline = setTimeout(() => {
    log(`drill exceeded ${options.maxDurationMs} ms: stopping everything`);
    void cleanup.run().then(() => process.exit(3));
  }, options.maxDurationMs);
  try {
    return await drill(options, log, cleanup, startedAt);
  } finally {
    clearTimeout(deadline);
    await cleanup.run();
  }
}

async function drill(options: DrillOptions, log: (line: string) => void, cleanup: Cleanup, startedAt: number) {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-drill-'));
  if (options.keep) log(`keeping ${dir} (logs, databases, nginx configuration)`);
  else cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const runId = randomBytes(4).toString('hex');
  const env: Record<string, string> = {
    JWT_SECRET,
    RATE_LIMIT: 'off',
    REPLICATION: 'on',
    LOG_LEVEL: 'info',
    HEARTBEAT_INTERVAL_MS: String(options.heartbeatIntervalMs),
    HEARTBEAT_MISSES: String(options.heartbeatMisses),
    REPLICA_SYNC_INTERVAL: options.syncInterval,
    DURABILITY: options.durability,
    WORKERS: String(options.workers),
  };

  if (options.replica === 's3') {
    const s3 = await startS3Emulator('drill');
    cleanup.add(() => s3.stop());
    Object.assign(env, { REPLICA_URL: `s3://${s3.bucket}/reviews`, REPLICA_ENDPOINT: s3.address, ...S3_CREDENTIALS });
  } else {
    env.REPLICA_URL = join(dir, 'replica');
  }
  if (options.lease === 'etcd') {
    const etcd: RunningEtcd = await startEtcd();
    cleanup.add(() => etcd.stop());
    env.LEASE_URL = `etcd://${etcd.address}/reviews-drill/${runId}`;
  } else {
    env.LEASE_URL = `file:${join(dir, 'lease')}`;
  }
  log(`replica ${env.REPLICA_URL}${env.REPLICA_ENDPOINT ? ` at ${env.REPLICA_ENDPOINT}` : ''}, lease ${env.LEASE_URL}`);

  if (options.snapshotInterval) env.REPLICA_SNAPSHOT_INTERVAL = options.snapshotInterval;
  for (let i = 0; i < options.cpuHogs; i++) cleanup.add(startCpuHog(options.maxDurationMs));

  const names = NODE_NAMES.slice(0, options.standbys + 1);
  const ports: Record<string, number> = { nginx: await freePort() };
  for (const name of names) ports[name] = await freePort();
  const address = (name: string) => `127.0.0.1:${ports[name]}`;
  /** The nodes running now, by name. */
  const nodes = new Map<string, NodeProcess>();
  /** Every node process started, and those a fault froze (their lease is lost on purpose). */
  const launched: NodeProcess[] = [];
  const frozen = new Set<NodeProcess>();
  const launch = async (name: string, primaryUrl?: string) => {
    mkdirSync(join(dir, name), { recursive: true });
    const node = await startNode({
      name,
      port: ports[name] as number,
      primaryUrl,
      logFile: join(dir, `${name}.log`),
      env: { ...env, DATABASE_PATH: join(dir, name, 'reviews.db') },
      // A standby restores the whole database before it listens: minutes at 1 GB on a busy host.
      timeoutMs: options.seeded ? 300_000 : undefined,
    });
    nodes.set(name, node);
    launched.push(node);
    cleanup.add(() => node.stop('SIGKILL'));
    return node;
  };
  if (options.seeded) {
    mkdirSync(join(dir, 'a'), { recursive: true });
    copySeeded(options.seeded, join(dir, 'a', 'reviews.db'));
  }
  let primary = await launch('a');
  // Until its first snapshot is in the replica, a standby would restore nothing of it.
  await generationInReplica(primary, 300_000);
  for (const name of names.slice(1)) await launch(name, primary.url);
  const standbys = () => [...nodes.values()].filter((node) => node !== primary);
  const nginx: RunningNginx = await startNginx(join(dir, 'nginx'), {
    nodes: names.map(address),
    listen: address('nginx'),
  });
  cleanup.add(() => nginx.stop());
  log(
    `primary a ${primary.url}, standbys ${standbys()
      .map((node) => `${node.name} ${node.url}`)
      .join(', ')}, nginx ${nginx.url}`,
  );

  const key = await signingKey(JWT_SECRET);
  const tokens = await Promise.all(
    Array.from({ length: options.writers }, (_, i) =>
      signToken({ userId: `drill-${runId}-${i}`, name: `Writer ${i}` }, key),
    ),
  );
  const load = new WriteLoad({
    url: nginx.url,
    tokens,
    readers: options.readers,
    runId,
    maxDurationMs: options.maxDurationMs,
  });
  load.start();
  cleanup.add(() => load.stop());
  const lag = new LagSampler(standbys, 250, options.maxDurationMs);
  lag.start();
  cleanup.add(() => lag.stop());
  const readYourWrites = new ReadYourWrites({
    nodes: () => [...nodes.values()],
    balancer: nginx.url,
    token: tokens[0] as string,
    runId,
    maxPairs: 100_000,
    maxMs: options.maxDurationMs,
  });
  readYourWrites.start(options.rywClients);
  cleanup.add(() => readYourWrites.stop());

  const cycles: CycleResult[] = [];
  const faults: ('SIGKILL' | 'SIGSTOP')[] = [
    ...Array<'SIGKILL'>(options.killCycles).fill('SIGKILL'),
    ...Array<'SIGSTOP'>(options.freezeCycles).fill('SIGSTOP'),
  ];
  /** Writes by a node outside its tenure, all cycles together. */
  let splitBrainWrites = 0;
  for (const [index, fault] of faults.entries()) {
    await sleep(options.warmupMs);
    const old = primary;
    const before = (await (await fetch(`${old.url}/ready`)).json()) as {
      writable: boolean;
      readOnlyReason?: string;
      replication?: { generation?: string | null };
    };
    if (!before.writable) {
      // The roles changed without a fault: the heartbeat or lease is too tight for this host.
      throw new Error(`primary ${old.name} was not writable before the fault: ${before.readOnlyReason}`);
    }
    const oldGeneration = before.replication?.generation ?? null;
    log(`cycle ${index + 1}: ${fault} to primary ${old.name}`);
    const faultAt = Date.now();
    if (fault === 'SIGSTOP') frozen.add(old);
    old.signal(fault);
    // Exactly one standby takes over; the others follow it.
    const candidates = standbys();
    const promoted = await Promise.any(
      candidates.map(async (node) => ({
        node,
        entry: await node.waitForLog('promoted: this node is the primary', 60_000, faultAt),
      })),
    );
    const successor = promoted.node;
    const promoting = await successor.waitForLog('promoting: this node takes over as primary', 1000, faultAt);
    const firstAfter = await firstAcknowledgedAfter(load, faultAt, 60_000);
    let resumedAt = Number.POSITIVE_INFINITY;
    if (fault === 'SIGSTOP') {
      // The zombie wakes up believing it is primary, with requests queued from before.
      resumedAt = Date.now();
      old.signal('SIGCONT');
      await old.waitForLog('lease lost: writes refused from now on', 30_000);
      await sleep(1000);
    }
    const oldNodeAnswer =
      fault === 'SIGSTOP' ? await directWrite(old.url, tokens[0] as string, runId, oldGeneration) : '';
    await old.stop(fault === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM');
    nodes.delete(old.name);
    const restartingAt = Date.now();
    const restarted = await launch(old.name, successor.url);
    const standbyStartMs = Date.now() - restartingAt;
    await sleep(500);
    const afterRestart = Date.now();
    const restartedAnswer = await directWrite(restarted.url, tokens[0] as string, runId, oldGeneration);
    // Executed by the old primary after it lost its tenure (its generation named in the answer):
    // sent after the kill (a dead process cannot answer; when the answer arrived says nothing: a
    // busy client reads an answer sent before the kill late), or answered after it woke up.
    const onOld = load
      .acknowledged()
      .filter(
        (write) =>
          write.ackedIn !== null &&
          write.ackedIn === oldGeneration &&
          (fault === 'SIGKILL'
            ? (write.attempts.at(-1)?.startedAt ?? 0) > faultAt + 50
            : (write.ackedAt as number) >= resumedAt),
      ).length;
    splitBrainWrites += onOld;
    const lastBefore = lastAcknowledgedBefore(load, faultAt);
    const result: CycleResult = {
      cycle: index + 1,
      fault,
      from: old.name,
      to: successor.name,
      at: {
        fault: faultAt,
        lastAckBefore: lastBefore?.ackedAt ?? null,
        firstAckAfter: firstAfter.ackedAt as number,
        promoting: promoting.time,
        promoted: promoted.entry.time,
      },
      rtoMs: (firstAfter.ackedAt as number) - (lastBefore?.ackedAt ?? faultAt),
      detectMs: promoting.time - faultAt,
      promoteMs: promoted.entry.time - promoting.time,
      promoteSteps: (promoted.entry.steps as Record<string, number>) ?? {},
      promoteAttempts: candidates.reduce(
        (total, node) =>
          total +
          node.logs.filter(
            (entry) => entry.msg === 'promoting: this node takes over as primary' && entry.time >= faultAt,
          ).length,
        0,
      ),
      standbyStartMs,
      generationInReplicaMs: 0,
      standbyFollowsMs: 0,
      writesOnOldPrimary: onOld,
      lostWrites: 0,
      clientsSaw: answersBetween(load, faultAt, firstAfter.ackedAt as number, ports),
      oldNodeAnswer: [oldNodeAnswer, `restarted: ${restartedAnswer}`].filter(Boolean).join('; '),
      readsDuring: readsBetween(load.reads, faultAt, firstAfter.ackedAt as number),
    };
    cycles.push(result);
    log(
      `cycle ${index + 1}: ${successor.name} took over; RTO ${result.rtoMs} ms (detect ${result.detectMs} ms, promote ${result.promoteMs} ms: ${JSON.stringify(result.promoteSteps)}); reads answered meanwhile ${result.readsDuring.ok}/${result.readsDuring.total}; old node answers ${result.oldNodeAnswer}; ${Date.now() - afterRestart} ms`,
    );
    // The next fault comes only once the new primary's snapshot is in the replica: a fault within
    // that window loses what it wrote (docs/operations.md), measured here as a figure.
    result.generationInReplicaMs = (await generationInReplica(successor, 300_000)) - promoted.entry.time;
    // ...and once every standby follows it (the restarted one last): before, a fault costs a whole restore.
    primary = successor;
    for (const node of standbys()) {
      result.standbyFollowsMs = Math.max(
        result.standbyFollowsMs,
        (await standbyFollows(node, successor, 300_000)) - promoted.entry.time,
      );
    }
    lag.failover(faultAt, Date.now());
  }

  await sleep(options.warmupMs);
  await Promise.all([load.stop(), lag.stop(), readYourWrites.stop()]);
  // The standbys first (so none takes over), then the primary, which ships its last frames.
  for (const node of standbys()) await node.stop();
  await primary.stop();
  const finalDatabase = join(dir, primary.name, 'reviews.db');
  const verdict = checkWrites(finalDatabase, load.writes, runId);
  for (const write of verdict.missing) {
    const cycle = cycles.find((candidate) => (write.ackedAt as number) <= candidate.at.fault);
    if (cycle) cycle.lostWrites += 1;
  }
  const lease = leaseOutsideFaults(launched, frozen, cycles.length);
  const everyNode = {
    readShare: readsPerNode(load.reads, new Map(names.map((name) => [address(name), name]))),
    lagMs: lag.figures(),
    readYourWrites: readYourWrites.figures,
  };
  return summarize(options, startedAt, cycles, load, verdict, splitBrainWrites, lease, everyNode);
}

/** DrillResult['lease'], from every node's log. */
function leaseOutsideFaults(launched: NodeProcess[], frozen: Set<NodeProcess>, cycles: number) {
  const count = (node: NodeProcess, test: (entry: NodeProcess['logs'][number]) => boolean) =>
    node.logs.filter(test).length;
  const sum = (nodes: NodeProcess[], test: (entry: NodeProcess['logs'][number]) => boolean) =>
    nodes.reduce((total, node) => total + count(node, test), 0);
  const unfaulted = launched.filter((node) => !frozen.has(node));
  return {
    unfaultedLosses: sum(
      unfaulted,
      (entry) => entry.msg === 'lease lost: writes refused from now on' && entry.reason !== 'released',
    ),
    regained: sum(unfaulted, (entry) => entry.msg === 'lease regained: nobody held it since it lapsed'),
    // The first primary's promotion, and one per fault: any other was a takeover from a live node.
    falseFailovers: sum(launched, (entry) => entry.msg === 'promoted: this node is the primary') - 1 - cycles,
  };
}

/**
 * A process that keeps one core busy until it is killed or `maxMs` passed: a host whose CPU
 * the nodes must share, as on a machine running other work.
 */
function startCpuHog(maxMs: number): () => void {
  const hog = spawn(process.execPath, ['-e', `const end = Date.now() + ${maxMs}; while (Date.now() < end);`], {
    stdio: 'ignore',
  });
  return () => hog.kill('SIGKILL');
}

/**
 * Waits until the replica holds the node's generation (its snapshot, then WAL): before that a
 * promotion would restore the previous generation. Resolves with when that was seen.
 */
async function generationInReplica(node: NodeProcess, timeoutMs: number): Promise<number> {
  let deposed: string | null = null;
  await waitFor(
    `${node.name}'s generation in the replica`,
    async () => {
      const state = (await (await fetch(`${node.url}/ready`)).json()) as {
        readOnlyReason?: string;
        replication?: { position?: { replica: unknown } };
      };
      // A lapsed lease is taken up again unless another node took it: then it never replicates again.
      if (node.logs.some((entry) => entry.msg === 'lease taken by another node: following it')) {
        deposed = state.readOnlyReason ?? 'lease lost';
      }
      return deposed !== null || (state.replication?.position?.replica ?? null) !== null;
    },
    timeoutMs,
  );
  if (deposed) throw new Error(`${node.name} was deposed before its generation reached the replica: ${deposed}`);
  return Date.now();
}

/**
 * Waits until `standby` follows the generation `primary` replicates in both its followed files,
 * and has finished the round that made the second (a copy: seconds at 1 GB); resolves with when.
 */
async function standbyFollows(standby: NodeProcess, primary: NodeProcess, timeoutMs: number): Promise<number> {
  const readyOf = async (node: NodeProcess) =>
    (await (await fetch(`${node.url}/ready`)).json()) as {
      replication?: { generation?: string | null };
      reads?: {
        followed?: {
          generation?: string;
          caughtUpAt?: string | null;
          files?: Record<string, { generation: string } | null>;
        } | null;
      };
    };
  let heldSince = 0;
  await waitFor(
    `${standby.name} to follow ${primary.name}'s generation in both its files`,
    async () => {
      const generation = (await readyOf(primary)).replication?.generation;
      const followed = (await readyOf(standby)).reads?.followed;
      const holds =
        typeof generation === 'string' &&
        followed?.generation === generation &&
        Object.values(followed.files ?? {}).every((file) => file?.generation === generation);
      heldSince = holds ? heldSince || Date.now() : 0;
      return holds && Date.parse(followed?.caughtUpAt ?? '') > heldSince;
    },
    timeoutMs,
  );
  return Date.now();
}

async function firstAcknowledgedAfter(load: WriteLoad, since: number, timeoutMs: number): Promise<WriteRecord> {
  let found: WriteRecord | undefined;
  await waitFor(
    'a write acknowledged after the fault',
    async () => {
      found = load
        .acknowledged()
        .find(
          (write) =>
            (write.ackedAt as number) > since &&
            write.attempts.at(-1)?.startedAt !== undefined &&
            (write.attempts.at(-1)?.startedAt as number) > since,
        );
      return found !== undefined;
    },
    timeoutMs,
  );
  return found as WriteRecord;
}

/** Write attempts that ended in [from, to], counted by "status code via node". */
function answersBetween(load: WriteLoad, from: number, to: number, ports: Record<string, number>) {
  const names = new Map(Object.entries(ports).map(([name, port]) => [`127.0.0.1:${port}`, name]));
  const counts: Record<string, number> = {};
  for (const attempt of load.writes.flatMap((write) => write.attempts)) {
    if (attempt.endedAt < from || attempt.endedAt > to) continue;
    const answer =
      attempt.status === null ? `no answer (${attempt.error ?? ''})` : `${attempt.status} ${attempt.code ?? ''}`.trim();
    const label = `${answer} via ${attempt.upstream ? (names.get(attempt.upstream) ?? attempt.upstream) : 'nginx'}`;
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

function lastAcknowledgedBefore(load: WriteLoad, before: number): WriteRecord | undefined {
  return load
    .acknowledged()
    .filter((write) => (write.ackedAt as number) <= before)
    .at(-1);
}

/**
 * A createReview sent straight to a node (not through nginx): "forwarded" when a primary other
 * than the old one executed it, "ACCEPTED BY THE OLD PRIMARY" when the old generation did, or
 * the refusal's status and code.
 */
async function directWrite(url: string, token: string, runId: string, oldGeneration: string | null): Promise<string> {
  const key = `drill-${runId}-direct-${randomBytes(3).toString('hex')}`;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      variables: { input: { subject: key, rating: 3, title: 'direct', body: key } },
    }),
  });
  const body = (await response.json()) as {
    data?: { createReview?: unknown };
    errors?: { extensions?: { code?: string } }[];
  };
  if (!body.data?.createReview) return `${response.status} ${body.errors?.[0]?.extensions?.code ?? 'error'}`;
  const generation = response.headers.get('x-reviews-api-position')?.split('.')[0] ?? null;
  return generation !== null && generation === oldGeneration ? OLD_PRIMARY_WROTE : 'forwarded';
}

/** What directWrite says when the old primary executed a write it should have refused. */
const OLD_PRIMARY_WROTE = 'ACCEPTED BY THE OLD PRIMARY';
/** Nodes are named a (the first primary), b, c, …: names of directories, logs and the report. */
const NODE_NAMES = 'abcdefghij'.split('');

function summarize(
  options: DrillOptions,
  startedAt: number,
  cycles: CycleResult[],
  load: WriteLoad,
  verdict: WritesVerdict,
  splitBrainWrites: number,
  lease: DrillResult['lease'],
  everyNode: DrillResult['everyNode'],
): DrillResult {
  const acknowledged = load.acknowledged();
  const span =
    acknowledged.length > 1
      ? ((acknowledged.at(-1)?.ackedAt as number) - (acknowledged[0]?.ackedAt as number)) / 1000
      : 1;
  const perSecond = acknowledged.length / Math.max(span, 1);
  const syncIntervalOfTraffic = Math.ceil((perSecond * durationMs(options.syncInterval)) / 1000);
  const rpo = {
    ...verdict,
    missing: verdict.missing.map(({ key, ackedAt, ackedBy }) => ({ key, ackedAt, ackedBy })),
    // Per fault: at most one sync interval of acknowledged traffic may be missing.
    syncIntervalOfTraffic,
    withinLitestreamBound: cycles.every((cycle) => cycle.lostWrites <= 2 * syncIntervalOfTraffic),
  };
  // DURABILITY=replicated promises that no acknowledged write is lost.
  const durable = options.durability === 'local' || verdict.missing.length === 0;
  return {
    options,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Date.now() - startedAt,
    cycles,
    writes: {
      started: load.writes.length,
      acknowledged: acknowledged.length,
      refused: load.writes.filter((write) => write.outcome === 'refused').length,
      gaveUp: load.writes.filter((write) => write.outcome === 'gave up').length,
      perSecond: Math.round(perSecond * 10) / 10,
    },
    mutationLatencyMs: latencyPercentiles(acknowledged),
    reads: {
      total: load.reads.length,
      ok: load.reads.filter((read) => read.ok).length,
      failures: countBy(load.reads.flatMap((read) => (read.failure ? [read.failure] : []))),
    },
    everyNode,
    rpo,
    splitBrainWrites,
    lease,
    ok:
      splitBrainWrites === 0 &&
      verdict.duplicated.length === 0 &&
      durable &&
      cycles.every((cycle) => !cycle.oldNodeAnswer.includes(OLD_PRIMARY_WROTE)),
  };
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** p50 and p99 of how long the acknowledged attempt of each write took (retries excluded). */
function latencyPercentiles(acknowledged: WriteRecord[]) {
  const durations = acknowledged
    .map((write) => write.attempts.at(-1))
    .filter((attempt) => attempt !== undefined)
    .map((attempt) => attempt.endedAt - attempt.startedAt)
    .sort((a, b) => a - b);
  const at = (quantile: number) =>
    durations[Math.min(durations.length - 1, Math.floor(quantile * durations.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}
