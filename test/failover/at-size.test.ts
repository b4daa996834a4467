import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { copySeeded, parseSize, seededDatabase } from '../../drill/seeded-database.ts';
import type { ServerProcess } from '../../harness/server-process.ts';
import {
  createReview,
  type ReplicaKind,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  tokenFor,
} from '../replication/support.ts';
import { spawnCollecting, startServe } from '../support/process.ts';

/**
 * A primary started the way an operator starts one on a large database keeps its lease: on a
 * freshly written file (the kernel still writing its pages back while Litestream reads them for
 * the first snapshot), through periodic snapshots, and on a file scripts/restore-to-standby.sh
 * just restored. `npm test` runs it on a small database; .ci/run again with AT_SIZE=1GB, on the
 * drill's seeded dataset (.tmp/drill-datasets), where a renewal held up by the disk or the
 * event loop used to depose the primary for good, over a directory and over the S3 emulator
 * (AT_SIZE_REPLICA=s3).
 */
const SIZE = parseSize(process.env.AT_SIZE ?? '20MB');
const REPLICA = (process.env.AT_SIZE_REPLICA ?? 'directory') as ReplicaKind;
if (REPLICA !== 'directory' && REPLICA !== 's3') throw new Error('AT_SIZE_REPLICA must be directory or s3');
const SCRIPT = fileURLToPath(new URL('../../scripts/restore-to-standby.sh', import.meta.url));
/** A full snapshot this often (each one reads the whole file and writes it compressed): back to back at 1 GB. */
const SNAPSHOT_INTERVAL = SIZE < 100e6 ? '2s' : '10s';
/** The first snapshot of a generation, then this many periodic ones. */
const PERIODIC_SNAPSHOTS = 5;
const LEASE_LOST = 'lease lost: writes refused from now on';
const s3 = REPLICA === 's3' ? s3ForThisFile() : undefined;

let box: Sandbox | undefined;
let served: ServerProcess | undefined;

afterEach(async () => {
  await served?.stop('SIGKILL');
  served = undefined;
  box?.cleanup();
});

/** Snapshots Litestream wrote for the database at `databasePath`, by its own log. */
function snapshotsWritten(databasePath: string): number {
  const log = `${databasePath}-litestream.log`;
  if (!existsSync(log)) return 0;
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.includes('msg="snapshot written"')).length;
}

/**
 * Writes through the node and reads its /ready until Litestream has written `snapshots`
 * snapshots (at most `maxMs`): every write must be acknowledged and every /ready writable.
 * Returns what was seen, for the assertions and the log.
 */
async function writableThrough(node: ServerProcess, databasePath: string, snapshots: number, maxMs: number) {
  const phase = databasePath.split('/').at(-2);
  const token = await tokenFor('operator');
  const seen = { writes: 0, refused: [] as string[], notWritable: [] as string[] };
  const deadline = Date.now() + maxMs;
  while (snapshotsWritten(databasePath) < snapshots) {
    if (Date.now() > deadline) throw new Error(`fewer than ${snapshots} snapshots within ${maxMs} ms`);
    const ready = (await (await fetch(`${node.url}/ready`)).json()) as { writable: boolean; readOnlyReason?: string };
    if (!ready.writable) seen.notWritable.push(ready.readOnlyReason ?? 'not writable');
    await createReview(node.url, token, `${phase} write ${seen.writes}`).then(
      () => {
        seen.writes += 1;
      },
      (error: Error) => seen.refused.push(error.message),
    );
    await new Promise((done) => setTimeout(done, 200));
  }
  return seen;
}

describe(`a primary on a ${Math.round(SIZE / 1e6)} MB database, replicated to a ${REPLICA}`, () => {
  it('keeps its lease from a fresh file through its first and periodic snapshots, and after a restore', {
    timeout: 30 * 60_000,
  }, async () => {
    const seeded = seededDatabase(SIZE);
    box = sandbox(REPLICA, s3, { REPLICA_SNAPSHOT_INTERVAL: SNAPSHOT_INTERVAL });
    const primaryPath = join(box.dir, 'primary', 'reviews.db');
    // Written just now, as an import or a copy leaves it: its pages are the kernel's to write back.
    mkdirSync(join(box.dir, 'primary'), { recursive: true });
    copySeeded(seeded, primaryPath);
    served = await startServe({ ...box.env, DATABASE_PATH: primaryPath });
    const fresh = await writableThrough(served, primaryPath, 1 + PERIODIC_SNAPSHOTS, 20 * 60_000);
    expect(fresh.notWritable).toEqual([]);
    expect(fresh.refused).toEqual([]);
    expect(served.logs.filter((entry) => entry.msg === LEASE_LOST)).toEqual([]);
    await served.stop('SIGTERM');
    served = undefined;

    // The operator's way back: restore the replica onto another data directory, then serve it.
    const restoredDir = join(box.dir, 'restored');
    const script = spawnCollecting('bash', [SCRIPT, '--data-dir', restoredDir, '--no-start'], box.env);
    expect(await script.exited, script.output().stderr).toBe(0);
    const restoredPath = join(restoredDir, 'reviews.db');
    served = await startServe({ ...box.env, DATABASE_PATH: restoredPath });
    const restored = await writableThrough(served, restoredPath, 1, 20 * 60_000);
    expect(restored.notWritable).toEqual([]);
    expect(restored.refused).toEqual([]);
    expect(served.logs.filter((entry) => entry.msg === LEASE_LOST)).toEqual([]);
    expect(restored.writes).toBeGreaterThan(0);
  });
});
