import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../harness/server-process.ts';
import { litestreamBinary } from '../src/replication/binary.ts';
import { seedDatabaseOfSize } from './dataset.ts';
import type { Progress } from './progress.ts';
import { replicatedServer } from './replication.ts';

export interface RestoreFigure {
  targetMb: number;
  databaseBytes: number;
  /** `reviews-api restore --output`: listing, Litestream's restore, quick_check, fsync, rename. */
  restoreCommandMs: number;
  /** The same with `--check full`: integrity_check instead of quick_check. */
  restoreFullCheckMs: number;
  /** Litestream's own restore from the same replica, the part of the above that scales with size. */
  litestreamRestoreMs: number;
  /** `cp` of the same database file: the floor for getting those bytes onto this disk. */
  copyMs: number;
  /** `cp` and then fsync of the copy: the floor for a copy that survives a power cut, as a restore must. */
  durableCopyMs: number;
  /** Each figure is the median of this many runs, taken in turns so a noisy moment hits all alike. */
  runs: number;
}

const RUNS = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** How long the replica gets to take its first snapshot of a large database. */
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

/** Runs a command to completion; its wall time in milliseconds. */
async function timed(command: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const startedAt = performance.now();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`);
  return Math.round(performance.now() - startedAt);
}

/**
 * Seeds a database of about `sizeMb`, replicates it through `reviews-api serve` (REPLICATION=on,
 * a directory replica) until the replica has all of it, then times a restore next to a copy.
 */
export async function measureRestore(dir: string, sizeMb: number, jwtSecret: string, progress: Progress) {
  await mkdir(dir, { recursive: true });
  try {
    const databasePath = join(dir, 'reviews.db');
    const replicaDir = join(dir, 'replica');
    progress.step(`restore ${sizeMb} MB: seeding`);
    seedDatabaseOfSize(databasePath, sizeMb * 1e6, (bytes) =>
      progress.update(`restore ${sizeMb} MB: ${Math.round(bytes / 1e6)} MB seeded`),
    );
    const databaseBytes = (await stat(databasePath)).size;
    progress.step(`restore ${sizeMb} MB: replicating ${Math.round(databaseBytes / 1e6)} MB`);
    const replicated = await replicatedServer('service', databasePath, replicaDir, '1s', jwtSecret);
    try {
      await replicated.monitor.waitUntilReplicated(SNAPSHOT_TIMEOUT_MS);
    } finally {
      await replicated.server.stop();
    }
    const env = { DATABASE_PATH: databasePath, REPLICA_URL: replicaDir, JWT_SECRET: jwtSecret, NODE_ENV: 'production' };
    const output = join(dir, 'restored.db');
    const cli =
      (...args: string[]) =>
      () =>
        timed(process.execPath, ['bin/reviews-api.js', 'restore', '--output', output, ...args], env);
    const methods = {
      restoreCommandMs: cli(),
      restoreFullCheckMs: cli('--check', 'full'),
      litestreamRestoreMs: () => timed(litestreamBinary(), ['restore', '-o', output, `file://${replicaDir}`]),
      copyMs: () => timed('cp', [databasePath, output]),
      durableCopyMs: () => timed('sh', ['-c', 'cp "$1" "$2" && sync "$2"', 'sh', databasePath, output]),
    };
    const times: Record<keyof typeof methods, number[]> = {
      restoreCommandMs: [],
      restoreFullCheckMs: [],
      litestreamRestoreMs: [],
      copyMs: [],
      durableCopyMs: [],
    };
    for (let run = 1; run <= RUNS; run++) {
      for (const [name, method] of Object.entries(methods) as [keyof typeof methods, () => Promise<number>][]) {
        progress.update(`restore ${sizeMb} MB: run ${run}/${RUNS}, ${name}`);
        times[name].push(await method());
        // Each method writes the same file from nothing; the restore command would refuse it.
        await rm(output, { force: true });
        await rm(`${output}.restored`, { force: true });
      }
    }
    const figure: RestoreFigure = {
      targetMb: sizeMb,
      databaseBytes,
      restoreCommandMs: median(times.restoreCommandMs),
      restoreFullCheckMs: median(times.restoreFullCheckMs),
      litestreamRestoreMs: median(times.litestreamRestoreMs),
      copyMs: median(times.copyMs),
      durableCopyMs: median(times.durableCopyMs),
      runs: RUNS,
    };
    progress.step(
      `restore ${sizeMb} MB: command ${figure.restoreCommandMs} ms (--check full ${figure.restoreFullCheckMs} ms), ` +
        `litestream ${figure.litestreamRestoreMs} ms, cp ${figure.copyMs} ms, cp + fsync ${figure.durableCopyMs} ms`,
    );
    return figure;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
