import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';
import { signingKey, signToken } from '../../src/auth.ts';
import { loadConfig } from '../../src/config.ts';
import type { Served } from '../support/process.ts';
import { S3_CREDENTIALS, type S3Emulator, startS3Emulator } from '../support/s3-emulator.ts';

export const JWT_SECRET = 'replication-test-secret-of-32-characters-at-least';

/**
 * A bound for tests that start servers, Litestream and CLI processes: each CLI run loads the
 * whole service, which takes seconds when the shared machine is busy.
 */
export const PROCESS_TEST_TIMEOUT_MS = 180_000;

/**
 * The S3 emulator of this test file (test/support/s3-emulator.ts): started before its tests,
 * stopped after them. Usable once the file's tests run. `restoresInThisProcess`: the file calls
 * restoreReplica (or a follower) in this process, whose Litestream reads its S3 credentials from
 * this process's environment, not from a sandbox's.
 */
export function s3ForThisFile({ restoresInThisProcess = false } = {}): S3Emulator {
  let running: S3Emulator | undefined;
  if (restoresInThisProcess) Object.assign(process.env, S3_CREDENTIALS);
  beforeAll(async () => {
    running = await startS3Emulator();
  });
  afterAll(() => running?.stop());
  const started = () => {
    if (!running) throw new Error('the S3 emulator is started before the tests of the file');
    return running;
  };
  return {
    get address() {
      return started().address;
    },
    get bucket() {
      return started().bucket;
    },
    stop: () => started().stop(),
  };
}

/** The configuration a sandbox's environment loads to, as `serve` and `restore` would load it. */
export function settingsOf(env: Record<string, string>) {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}

export type ReplicaKind = 'directory' | 's3';

export interface Sandbox {
  dir: string;
  /** The environment for serve / restore: database, replica, credentials. */
  env: Record<string, string>;
  cleanup(): void;
}

let replicas = 0;

/** A temp directory and a fresh replica of the given kind (a path of its own in the bucket on `s3`). */
export function sandbox(kind: ReplicaKind, s3: S3Emulator | undefined, extra: Record<string, string> = {}): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-replication-'));
  const env: Record<string, string> = {
    DATABASE_PATH: join(dir, 'primary', 'reviews.db'),
    JWT_SECRET,
    RATE_LIMIT: 'off',
    REPLICATION: 'on',
    LOG_LEVEL: 'info',
    ...extra,
  };
  if (kind === 'directory') {
    env.REPLICA_URL = join(dir, 'replica');
  } else {
    if (!s3) throw new Error('the s3 kind needs a server');
    Object.assign(env, {
      REPLICA_URL: `s3://${s3.bucket}/${process.pid}-${++replicas}/reviews`,
      REPLICA_ENDPOINT: s3.address,
      ...S3_CREDENTIALS,
    });
  }
  // Nothing writes here once the servers are stopped: the harness waits for their Litestream.
  return { dir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const tokenFor = async (userId: string) => signToken({ userId, name: userId }, await signingKey(JWT_SECRET));

export interface Gql {
  // biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape.
  data?: any;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function gql(url: string, query: string, variables: Record<string, unknown>, token?: string) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as Gql;
}

const CREATE_REVIEW = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }`;
const ADD_COMMENT = `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`;

/** Creates a review through GraphQL and returns its global id; throws on any error. */
export async function createReview(url: string, token: string, subject: string): Promise<string> {
  const result = await gql(
    url,
    CREATE_REVIEW,
    { input: { subject, rating: 4, title: subject, body: `about ${subject}` } },
    token,
  );
  if (!result.data?.createReview) throw new Error(JSON.stringify(result.errors));
  return result.data.createReview.review.id;
}

export async function addComment(url: string, token: string, reviewId: string, body: string) {
  return gql(url, ADD_COMMENT, { input: { reviewId, body } }, token);
}

export interface Ready {
  status: string;
  writable: boolean;
  readOnlyReason?: string;
  replication: {
    replica: string;
    litestream: { status: string; pid: number | null; restarts: number; reason: string | null };
    metrics: string;
    sampledAt?: string;
    lagBytes?: number | null;
    lagSeconds?: number | null;
  };
}

export async function ready(url: string): Promise<Ready> {
  return (await (await fetch(`${url}/ready`)).json()) as Ready;
}

/** Polls `check` until it returns a value (not undefined), at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** The first /ready whose replication sample was taken after `since` and passes `accept`. */
export async function readyAfter(url: string, since: number, accept: (state: Ready) => boolean, timeoutMs = 15_000) {
  return eventually(
    async () => {
      const state = await ready(url);
      return Date.parse(state.replication.sampledAt ?? '') > since && accept(state) ? state : undefined;
    },
    timeoutMs,
    'a /ready sample',
  );
}

/** Waits until /ready reports, in a sample taken after this call, that the replica has every write. */
export const replicated = (url: string, timeoutMs = 15_000) =>
  readyAfter(url, Date.now(), (state) => state.replication.lagBytes === 0, timeoutMs);

/** The rows users care about, in a stable order, from a database file. */
export function rowsOf(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return {
      users: db.prepare('select id, name from users order by id').all(),
      reviews: db.prepare('select * from reviews order by id').all(),
      comments: db.prepare('select * from comments order by id').all(),
      integrity: db.pragma('integrity_check', { simple: true }),
    };
  } finally {
    db.close();
  }
}

/** Stops a served process and whatever Litestream it still has, even when a test failed. */
export async function stopAll(served: Served | undefined, litestreamPid?: number | null) {
  // A child killed by a signal has no exit code, only a signal code: it is gone all the same.
  if (served && served.child.exitCode === null && served.child.signalCode === null) await served.stop('SIGKILL');
  if (litestreamPid) {
    try {
      process.kill(litestreamPid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Every row of every table, in order: what a reader of the file would see. */
export function contentOf(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all();
    return JSON.stringify(tables.map((name) => db.prepare(`select * from "${name}" order by rowid`).raw().all()));
  } finally {
    db.close();
  }
}
