import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../db/client.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { durationMs } from '../duration.ts';
import type { Logger } from '../logger.ts';
import { checkDatabaseFile } from './file-check.ts';
import { runLitestream } from './litestream.ts';
import { litestreamFailure } from './litestream-log.ts';
import {
  describeReplica,
  LITESTREAM_CONFIG_PATH,
  litestreamEnvironment,
  type ReplicationSettings,
  replicaTarget,
} from './settings.ts';

/** A restore that must not go ahead; its message is one line, for the operator. */
export class RestoreError extends Error {
  override name = 'RestoreError';
}

/** The replica holds nothing yet (a first start): a restore has nothing to bring back. */
export class NoBackupsError extends RestoreError {
  override name = 'NoBackupsError';
}

/** The restored file failed its check (quick_check or integrity_check). */
class DamagedRestoreError extends RestoreError {
  override name = 'DamagedRestoreError';
}

/**
 * Tries at restoring the replica's head before its check's verdict stands: the first may fall
 * just after a snapshot, before the WAL that snapshot already holds pages of is shipped.
 */
const HEAD_RESTORE_ATTEMPTS = 3;

/** One generation: an unbroken history of the database, from its first snapshot on. */
export interface Generation {
  generation: string;
  /** Litestream prints whole seconds (truncated): the exact times are within the second after. */
  start: Date;
  end: Date;
}

const LIST_TIMEOUT_MS = 60_000;
const RESTORE_TIMEOUT_MS = 30 * 60_000;
const NOTHING_TO_RESTORE = 'no matching backups found';
/**
 * WAL files Litestream downloads at once (its default is 8). A failover restores every WAL
 * file since the last snapshot, each a small object: with an object store's latency per file,
 * more in flight shortens the restore; it costs only open connections.
 */
const RESTORE_PARALLELISM = 32;

/**
 * Litestream names the database to work on by its path in litestream.yml, and some commands
 * insist that file exists; the replica's location does not depend on it. A placeholder in a
 * directory of our own keeps commands away from the live database.
 */
async function withLitestreamWorkspace<T>(
  settings: ReplicationSettings,
  work: (args: { env: Record<string, string>; placeholder: string; directory: string }) => Promise<T>,
  directory?: string,
): Promise<T> {
  const workspace = await mkdtemp(join(directory ?? tmpdir(), '.reviews-restore-'));
  try {
    const placeholder = join(workspace, 'placeholder.db');
    await writeFile(placeholder, '');
    const env = litestreamEnvironment({ ...settings, databasePath: placeholder });
    return await work({ env, placeholder, directory: workspace });
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

function parseGenerations(output: string): Generation[] {
  return (
    output
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((columns) => columns.length >= 5)
      .map(([, generation = '', , start = '', end = '']) => ({
        generation,
        start: new Date(start),
        end: new Date(end),
      }))
      // A generation whose first snapshot is still on its way: Litestream lists it from year 1,
      // and it cannot be restored yet.
      .filter(({ start }) => start.getUTCFullYear() > 1)
      // Begun in the same (whole) second: the one written to last is the newer primary's.
      .sort((a, b) => a.start.getTime() - b.start.getTime() || a.end.getTime() - b.end.getTime())
  );
}

/** What the replica holds, oldest first. Throws RestoreError when the replica cannot be read. */
export async function listGenerations(settings: ReplicationSettings): Promise<Generation[]> {
  const replica = describeReplica(replicaTarget(settings));
  return withLitestreamWorkspace(settings, async ({ env, placeholder }) => {
    const result = await runLitestream(['generations', '-config', LITESTREAM_CONFIG_PATH, placeholder], env, {
      timeoutMs: LIST_TIMEOUT_MS,
    });
    // Litestream logs a failed listing (an unreachable store, a missing bucket) and still exits 0.
    const failure =
      litestreamFailure(result.log) ?? (result.code === 0 ? null : `exit ${result.code ?? result.signal}`);
    if (failure) throw new RestoreError(`cannot read the replica at ${replica}: ${failure}`);
    return parseGenerations(result.output);
  });
}

/** What to ask Litestream for: a generation (none: the newest) and a time (none: its end). */
export interface RestoreStep {
  generation?: string;
  timestamp?: Date;
}

export interface RestorePlan {
  attempt: RestoreStep;
  /**
   * Litestream restores to a time only within a generation's exact bounds, which it prints
   * truncated to the second. When a time in a boundary second falls outside them, this is
   * what the database looked like then, or null if it did not exist yet.
   */
  otherwise: RestoreStep | null;
}

const SECOND = 1000;
const sameSecond = (a: Date, b: Date) => Math.floor(a.getTime() / SECOND) === Math.floor(b.getTime() / SECOND);

/** Chooses what to restore for "the latest" or "as it was at `timestamp`". Pure. */
export function planRestore(generations: Generation[], replica: string, timestamp?: Date): RestorePlan {
  if (generations.length === 0) throw new NoBackupsError(`no backups found in the replica at ${replica}`);
  // The newest generation by start, named explicitly: Litestream's own choice is the one updated
  // last, which a deposed primary still replicating would win (docs/operations.md, "High availability").
  if (!timestamp) return { attempt: { generation: (generations.at(-1) as Generation).generation }, otherwise: null };
  const first = generations[0] as Generation;
  const startedBefore = generations.filter((g) => g.start.getTime() <= timestamp.getTime());
  const current = startedBefore.at(-1);
  if (!current) {
    throw new RestoreError(
      `${timestamp.toISOString()} is before the first snapshot in the replica (${first.start.toISOString()})`,
    );
  }
  const previous = startedBefore.at(-2);
  const latestOfPrevious = previous ? { generation: previous.generation } : null;
  // After a generation's last change (and before the next one began), it looked as it ended.
  if (timestamp.getTime() >= current.end.getTime() + SECOND) {
    return { attempt: { generation: current.generation }, otherwise: null };
  }
  return {
    attempt: { generation: current.generation, timestamp },
    // Never newer than asked: within the first second, "before it began" wins.
    otherwise: sameSecond(timestamp, current.start) ? latestOfPrevious : { generation: current.generation },
  };
}

/**
 * How a restored file is checked before it replaces anything. `quick` (PRAGMA quick_check)
 * reads every page once: b-tree structure, page ownership, the freelist, record format, NOT
 * NULL and CHECK constraints. `full` (PRAGMA integrity_check) also looks every row up in every
 * index and checks UNIQUE, which on a 1 GB database adds ~20 s to a restore of 3-6 s: a
 * damaged page is caught by both, an index out of step with its table only by full.
 */
export const RESTORE_CHECKS = ['quick', 'full'] as const;
export type RestoreCheck = (typeof RESTORE_CHECKS)[number];

/** The PRAGMA each check runs, as operators know them. */
export const CHECK_PRAGMA: Record<RestoreCheck, string> = { quick: 'quick_check', full: 'integrity_check' };

export interface RestoreOptions {
  output: string;
  /** Restore the database as it was at this moment; the latest when absent. */
  timestamp?: Date;
  /** Replace an existing output file. */
  force?: boolean;
  /** How thoroughly the restored file is checked; `quick` when absent. */
  check?: RestoreCheck;
  logger?: Logger;
}

export interface RestoreResult {
  output: string;
  generation: string | null;
  timestamp: string | null;
  bytes: number;
  durationMs: number;
  /** The check the restored file passed. */
  check: RestoreCheck;
  /** The snapshot the restore started from (`generation/index`), as Litestream logged it. */
  snapshot: string | null;
  /**
   * The last WAL index the restore replayed (the snapshot's when none), as Litestream logged it:
   * frames of that index shipped later were not in it, so a follower starts again from it.
   */
  walIndex: number | null;
  /** The generations the restore chose from, as Litestream listed them (oldest first). */
  generations: Generation[];
  /** Migrations this code has that the restored database does not (serve applies them). */
  pendingMigrations: string[];
  /** Where the time went: Litestream's restore, then the check and the flush to disk side by side. */
  phasesMs: { litestream: number; check: number; fsync: number };
}

/**
 * Restores the replica into `output` through Litestream: into a temporary file beside it,
 * checked (quick_check or integrity_check, this service's migrations), made durable, then
 * renamed into place, so a failure or a crash at any step leaves `output` as it was.
 */
export async function restoreReplica(settings: ReplicationSettings, options: RestoreOptions): Promise<RestoreResult> {
  const startedAt = performance.now();
  const output = resolve(options.output);
  const check = options.check ?? 'quick';
  const replica = describeReplica(replicaTarget(settings));
  if (existsSync(output) && !options.force) throw new RestoreError(`${output} exists; pass --force to replace it`);
  const generations = await listGenerations(settings);
  const plan = planRestore(generations, replica, options.timestamp);
  await mkdir(dirname(output), { recursive: true });
  return withLitestreamWorkspace(
    settings,
    async ({ env, placeholder, directory }) => {
      const restored = join(directory, basename(output));
      const restoreStartedAt = performance.now();
      const since = (at: number) => Math.round(performance.now() - at);
      for (let attempt = 1; ; attempt++) {
        let step = plan.attempt;
        let { failure, snapshot, walIndex } = await litestreamRestore(env, placeholder, restored, step);
        if (failure?.includes(NOTHING_TO_RESTORE) && plan.otherwise) {
          step = plan.otherwise;
          ({ failure, snapshot, walIndex } = await litestreamRestore(env, placeholder, restored, step));
        }
        if (failure?.includes(NOTHING_TO_RESTORE) && options.timestamp) {
          throw new RestoreError(`${options.timestamp.toISOString()} is before the first snapshot in the replica`);
        }
        if (failure) throw new RestoreError(`restore from ${replica} failed: ${failure}`);
        // Litestream syncs the snapshot but not every page its WAL replay writes: the bytes must
        // be on disk before the name points at them, and the new name before anyone relies on it.
        // The check (a worker thread reading) and that flush (the disk writing back) overlap.
        const checkStartedAt = performance.now();
        const [checked, fsyncMs] = await Promise.all([
          verifyRestored(restored, check).then(
            (pending) => ({ pending, checkMs: since(checkStartedAt) }),
            (error: unknown) => ({ error }),
          ),
          fsync(restored).then(() => since(checkStartedAt)),
        ]);
        if ('error' in checked) {
          if (
            !(checked.error instanceof DamagedRestoreError && !options.timestamp && attempt < HEAD_RESTORE_ATTEMPTS)
          ) {
            throw checked.error;
          }
          // Litestream 0.3.13 files a snapshot under the WAL position it had copied, but the
          // checkpoint just before it can take in frames written since: until the next sync
          // ships them, the head restores to newer pages beside older ones. The WAL catches up.
          const waitMs = 2 * durationMs(settings.replicaSyncInterval);
          options.logger?.warn(
            { replica, attempt, waitMs, verdict: checked.error.message },
            'the restored head of the replica failed its check: restoring again once its WAL is shipped',
          );
          await rm(restored, { force: true });
          await sleep(waitMs);
          continue;
        }
        const { pending, checkMs } = checked;
        if (options.force) {
          // A WAL left by the database being replaced would be replayed onto the restored one.
          await rm(`${output}-wal`, { force: true });
          await rm(`${output}-shm`, { force: true });
        }
        await rename(restored, output);
        await fsync(dirname(output));
        const phasesMs = { litestream: Math.round(checkStartedAt - restoreStartedAt), check: checkMs, fsync: fsyncMs };
        options.logger?.info({ output, replica, check, snapshot, ...step }, 'restored the database from the replica');
        return {
          output,
          generation: step.generation ?? null,
          timestamp: options.timestamp?.toISOString() ?? null,
          bytes: (await stat(output)).size,
          durationMs: Math.round(performance.now() - startedAt),
          check,
          snapshot,
          walIndex,
          generations,
          pendingMigrations: pending,
          phasesMs,
        };
      }
    },
    // Beside the output: the final rename must not cross file systems.
    dirname(output),
  );
}

async function litestreamRestore(
  env: Record<string, string>,
  placeholder: string,
  restored: string,
  { generation, timestamp }: RestoreStep,
): Promise<{ failure: string | null; snapshot: string | null; walIndex: number | null }> {
  const args = [
    'restore',
    '-config',
    LITESTREAM_CONFIG_PATH,
    '-o',
    restored,
    '-parallelism',
    String(RESTORE_PARALLELISM),
  ];
  if (generation) args.push('-generation', generation);
  if (timestamp) args.push('-timestamp', timestamp.toISOString());
  const result = await runLitestream([...args, placeholder], env, { timeoutMs: RESTORE_TIMEOUT_MS });
  const started = result.log.find((line) => line.msg === 'restoring snapshot')?.fields;
  const snapshot = started?.generation && started.index ? `${started.generation}/${started.index}` : null;
  const lastIndex = result.log.find((line) => line.msg === 'restoring wal files')?.fields.index_max ?? started?.index;
  const walIndex = lastIndex === undefined ? null : Number(lastIndex);
  if (result.code === 0 && existsSync(restored)) return { failure: null, snapshot, walIndex };
  return {
    failure: litestreamFailure(result.log) ?? `litestream exited ${result.code ?? result.signal}`,
    snapshot,
    walIndex,
  };
}

/** Every migration this code has: all of them are pending on an empty database. */
function everyMigration(): string[] {
  const empty = openDatabase(':memory:');
  try {
    return pendingMigrations(empty);
  } finally {
    empty.$client.close();
  }
}

/** Flushes a file, or a directory's entries, to disk. */
async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Refuses a restored file that is damaged or is not this service's database. */
async function verifyRestored(path: string, check: RestoreCheck): Promise<string[]> {
  const pragma = CHECK_PRAGMA[check];
  // Off the event loop: the check reads every page, seconds at 1 GB (a lease keeper waits).
  const verdict = await checkDatabaseFile(path, pragma);
  if (verdict !== 'ok') throw new DamagedRestoreError(`the restored database failed ${pragma}: ${verdict}`);
  const db = openDatabase(path);
  try {
    const pending = pendingMigrations(db);
    if (pending.length > 0 && pending.length === everyMigration().length) {
      throw new RestoreError("the restored database has none of this service's migrations: not a Reviews API database");
    }
    return pending;
  } finally {
    db.$client.close();
  }
}

/**
 * Before a replicating server opens its database: a missing file is restored from the newest
 * copy in the replica when there is one, so a fresh machine comes back with its data. An
 * unreadable replica stops the start rather than begin an empty database beside it.
 */
export async function restoreIfMissing(settings: ReplicationSettings, logger: Logger): Promise<void> {
  if (existsSync(settings.databasePath)) return;
  const generations = await listGenerations(settings);
  if (generations.length === 0) {
    logger.info({ replica: describeReplica(replicaTarget(settings)) }, 'no database and no backups: starting empty');
    return;
  }
  const result = await restoreReplica(settings, { output: settings.databasePath, logger });
  logger.info({ durationMs: result.durationMs, bytes: result.bytes }, 'database restored before start');
}

/**
 * Beside a database that `reviews-api restore` wrote: the operator chose that state (a point
 * in time, a rollback), so the next `serve` to take the lease at start keeps it and replicates
 * it as a new generation, instead of catching up with the replica's newest generation.
 */
const restoreMarkPath = (databasePath: string) => `${databasePath}.restored`;

export async function markRestored(databasePath: string, note: Record<string, unknown>): Promise<void> {
  await writeFile(restoreMarkPath(databasePath), `${JSON.stringify(note)}\n`);
}

/** Whether `databasePath` carries the mark; the mark is removed, so it counts once. */
export function takeRestoreMark(databasePath: string): boolean {
  const path = restoreMarkPath(databasePath);
  if (!existsSync(path)) return false;
  rmSync(path, { force: true });
  return true;
}
