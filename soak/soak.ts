import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type ServerProcess, startServerProcess } from '../harness/server-process.ts';
import { signingKey, signToken } from '../src/auth.ts';

/**
 * The load soak: a real `reviews-api serve` process on a loopback port, many concurrent
 * clients mixing reads and writes over HTTP for a fixed time (and at most a fixed number of
 * requests), then the database is checked against every write the server acknowledged, and the
 * server's RSS after warm-up against its RSS at the end.
 */
export interface SoakOptions {
  durationMs: number;
  clients: number;
  /** A hard bound besides the time: the soak stops at whichever comes first. */
  maxRequests: number;
  /** The first part of the run that memory growth is not judged on (JIT, caches, SQLite pages). */
  warmupFraction: number;
  /**
   * RSS growth after warm-up that fails the soak: the median of the last third of the run
   * after warm-up against the median of the first third (medians: a GC cycle swings RSS).
   */
  maxRssGrowthBytes: number;
  /** WORKERS for the server: 1, or a writer and read workers (src/cluster/). */
  workers: number;
}

export const DEFAULT_SOAK: SoakOptions = {
  durationMs: 30_000,
  clients: 16,
  maxRequests: 500_000,
  warmupFraction: 0.25,
  maxRssGrowthBytes: 96 * 1024 * 1024,
  workers: 1,
};

export interface SoakReport {
  ok: boolean;
  failures: string[];
  durationMs: number;
  clients: number;
  workers: number;
  requests: number;
  reads: number;
  writes: { attempted: number; acknowledged: number };
  statuses: Record<string, number>;
  serverErrors: number;
  networkErrors: number;
  lostWrites: number;
  duplicatedWrites: number;
  unacknowledgedRows: number;
  lostUpdates: number;
  integrity: string;
  /** Server RSS in bytes: at start, median after warm-up, median at the end, and the peak. */
  rss: { start: number; afterWarmup: number; end: number; max: number };
}

const JWT_SECRET = 'soak-secret-that-is-at-least-32-characters-long';

const PAGE = `query Page { reviews(first: 20) { nodes { id title author { name } commentCount
  comments(first: 5) { nodes { body author { name } } } } } }`;
const REVIEW = 'query($id: ID!) { review(id: $id) { title version comments(first: 5) { totalCount } } }';
const CREATE_REVIEW = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id version } } }';
const ADD_COMMENT = 'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }';
const UPDATE_REVIEW = 'mutation($input: UpdateReviewInput!) { updateReview(input: $input) { review { version } } }';

/** `reviews-api serve` on an ephemeral loopback port, without Litestream or rate limits. */
function startServer(databasePath: string, workers: number): Promise<ServerProcess> {
  return startServerProcess({
    name: 'soak server',
    env: {
      NODE_ENV: 'production',
      JWT_SECRET,
      DATABASE_PATH: databasePath,
      REPLICATION: 'off',
      RATE_LIMIT: 'off',
      WORKERS: String(workers),
    },
    forceAfterMs: 15_000,
  });
}

interface Ledger {
  reviews: Map<string, { subject: string; updates: number }>;
  comments: Map<string, string>;
}

/** Runs the soak and returns its figures; `ok` is false when any check failed. */
export async function runSoak(options: SoakOptions = DEFAULT_SOAK): Promise<SoakReport> {
  const directory = mkdtempSync(join(tmpdir(), 'reviews-soak-'));
  const databasePath = join(directory, 'soak.db');
  const server = await startServer(databasePath, options.workers);
  try {
    return await soakAgainst(server, databasePath, options);
  } finally {
    await server.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function soakAgainst(server: ServerProcess, databasePath: string, options: SoakOptions) {
  const key = await signingKey(JWT_SECRET);
  const statuses: Record<string, number> = {};
  const ledger: Ledger = { reviews: new Map(), comments: new Map() };
  const counts = { requests: 0, reads: 0, writesAttempted: 0, writesAcknowledged: 0, network: 0 };
  const rss = { start: server.rss(), afterWarmup: 0, end: 0, max: 0 };
  const samples: { at: number; bytes: number }[] = [];
  const started = Date.now();
  const deadline = started + options.durationMs;

  async function request(body: unknown, token?: string) {
    counts.requests += 1;
    try {
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
      });
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      // biome-ignore lint/suspicious/noExplicitAny: responses are read by shape, as a client would.
      return (await response.json()) as { data?: any; errors?: unknown[] };
    } catch {
      counts.network += 1;
      return undefined;
    }
  }

  async function client(index: number) {
    const token = await signToken({ userId: `soak-${index}`, name: `Soak ${index}` }, key);
    const mine: string[] = [];
    let sequence = 0;
    while (Date.now() < deadline && counts.requests < options.maxRequests) {
      const roll = Math.random();
      const known = [...ledger.reviews.keys()];
      const someReview = known[Math.floor(Math.random() * known.length)];
      if (roll < 0.55 || !someReview) {
        counts.reads += 1;
        await request({ query: PAGE });
        if (someReview) continue;
      } else if (roll < 0.65) {
        counts.reads += 1;
        await request({ query: REVIEW, variables: { id: someReview } });
        continue;
      }
      sequence += 1;
      counts.writesAttempted += 1;
      if (roll < 0.85 && someReview) {
        // A unique body marks the row, so the check finds it exactly once (or not at all).
        const body = `soak comment ${index}/${sequence} ${randomUUID()}`;
        const result = await request(
          { query: ADD_COMMENT, variables: { input: { reviewId: someReview, body, idempotencyKey: randomUUID() } } },
          token,
        );
        const id = result?.data?.addComment?.comment?.id;
        if (id) {
          ledger.comments.set(id, body);
          counts.writesAcknowledged += 1;
        }
      } else if (roll < 0.93 || mine.length === 0) {
        const subject = `soak-subject-${index}-${sequence}`;
        const input = { subject, rating: 1 + (sequence % 5), title: `Soak ${sequence}`, body: 'Under load.' };
        const result = await request({ query: CREATE_REVIEW, variables: { input } }, token);
        const id = result?.data?.createReview?.review?.id;
        if (id) {
          ledger.reviews.set(id, { subject, updates: 0 });
          mine.push(id);
          counts.writesAcknowledged += 1;
        }
      } else {
        const id = mine[Math.floor(Math.random() * mine.length)] as string;
        const result = await request(
          { query: UPDATE_REVIEW, variables: { input: { id, title: `Updated ${sequence}` } } },
          token,
        );
        const entry = ledger.reviews.get(id);
        if (result?.data?.updateReview && entry) {
          entry.updates += 1;
          counts.writesAcknowledged += 1;
        }
      }
    }
  }

  const sampler = setInterval(() => samples.push({ at: Date.now() - started, bytes: server.rss() }), 200);
  try {
    await Promise.all(Array.from({ length: options.clients }, (_, index) => client(index)));
  } finally {
    clearInterval(sampler);
  }
  const durationMs = Date.now() - started;
  samples.push({ at: durationMs, bytes: server.rss() });
  const warm = durationMs * options.warmupFraction;
  const third = (durationMs - warm) / 3;
  const window = (from: number, to: number) => median(samples.filter((s) => s.at >= from && s.at <= to));
  rss.afterWarmup = window(warm, warm + third);
  rss.end = window(durationMs - third, durationMs);
  rss.max = Math.max(...samples.map((s) => s.bytes));
  await server.stop();

  const audit = auditDatabase(databasePath, ledger);
  const serverErrors = Object.entries(statuses)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0);
  const failures: string[] = [];
  if (serverErrors) failures.push(`${serverErrors} answers were 5xx`);
  if (counts.network) failures.push(`${counts.network} requests failed on the network`);
  if (audit.lost) failures.push(`${audit.lost} acknowledged writes are missing`);
  if (audit.duplicated) failures.push(`${audit.duplicated} acknowledged writes are in the database more than once`);
  if (audit.unacknowledged) failures.push(`${audit.unacknowledged} rows were written without an acknowledgement`);
  if (audit.lostUpdates) failures.push(`${audit.lostUpdates} reviews miss acknowledged updates`);
  if (audit.integrity !== 'ok') failures.push(`integrity_check: ${audit.integrity}`);
  if (rss.end - rss.afterWarmup > options.maxRssGrowthBytes) {
    failures.push(`RSS grew by ${mib(rss.end - rss.afterWarmup)} after warm-up`);
  }
  if (counts.writesAcknowledged === 0) failures.push('no write was acknowledged');
  return {
    ok: failures.length === 0,
    failures,
    durationMs,
    clients: options.clients,
    workers: options.workers,
    requests: counts.requests,
    reads: counts.reads,
    writes: { attempted: counts.writesAttempted, acknowledged: counts.writesAcknowledged },
    statuses,
    serverErrors,
    networkErrors: counts.network,
    lostWrites: audit.lost,
    duplicatedWrites: audit.duplicated,
    unacknowledgedRows: audit.unacknowledged,
    lostUpdates: audit.lostUpdates,
    integrity: audit.integrity,
    rss,
  } satisfies SoakReport;
}

/** Every acknowledged write in the database exactly once, and nothing written unacknowledged. */
function auditDatabase(databasePath: string, ledger: Ledger) {
  const db = new Database(databasePath, { readonly: true });
  try {
    const integrity = String(db.pragma('integrity_check', { simple: true }));
    const commentRows = db.prepare('SELECT body FROM comments').all() as { body: string }[];
    const bodies = new Map<string, number>();
    for (const { body } of commentRows) bodies.set(body, (bodies.get(body) ?? 0) + 1);
    const reviewRows = db.prepare('SELECT subject, version FROM reviews').all() as {
      subject: string;
      version: number;
    }[];
    const subjects = new Map<string, number[]>();
    for (const row of reviewRows) subjects.set(row.subject, [...(subjects.get(row.subject) ?? []), row.version]);
    let lost = 0;
    let duplicated = 0;
    let lostUpdates = 0;
    for (const body of ledger.comments.values()) {
      const n = bodies.get(body) ?? 0;
      if (n === 0) lost += 1;
      if (n > 1) duplicated += 1;
    }
    for (const { subject, updates } of ledger.reviews.values()) {
      const versions = subjects.get(subject) ?? [];
      if (versions.length === 0) lost += 1;
      if (versions.length > 1) duplicated += 1;
      if (versions.length === 1 && versions[0] !== 1 + updates) lostUpdates += 1;
    }
    const unacknowledged = commentRows.length - ledger.comments.size + (reviewRows.length - ledger.reviews.size);
    return { integrity, lost, duplicated, lostUpdates, unacknowledged: Math.max(0, unacknowledged) };
  } finally {
    db.close();
  }
}

function median(samples: { bytes: number }[]): number {
  const sorted = samples.map((s) => s.bytes).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function formatReport(report: SoakReport): string {
  const rows: [string, string][] = [
    ['duration', `${(report.durationMs / 1000).toFixed(1)} s, ${report.clients} clients, WORKERS=${report.workers}`],
    ['requests', `${report.requests} (${report.reads} reads, ${report.writes.attempted} writes)`],
    ['writes acknowledged', String(report.writes.acknowledged)],
    [
      'HTTP statuses',
      Object.entries(report.statuses)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', '),
    ],
    ['5xx / network errors', `${report.serverErrors} / ${report.networkErrors}`],
    [
      'lost / duplicated / unacknowledged',
      `${report.lostWrites} / ${report.duplicatedWrites} / ${report.unacknowledgedRows}`,
    ],
    ['lost updates', String(report.lostUpdates)],
    ['integrity_check', report.integrity],
    [
      'server RSS start / after warm-up / end / peak',
      [report.rss.start, report.rss.afterWarmup, report.rss.end, report.rss.max].map(mib).join(' / '),
    ],
    ['result', report.ok ? 'PASS' : `FAIL: ${report.failures.join('; ')}`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}
