import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { readLitestreamMetrics } from '../../src/replication/metrics.ts';
import { type Replication, startReplication } from '../../src/replication/primary.ts';
import { litestreamDatabasePath } from '../../src/replication/settings.ts';
import { aComment, aReview } from '../support/fixtures.ts';
import { PROCESS_TEST_TIMEOUT_MS, type Sandbox, sandbox } from './support.ts';

/** The replication part of /ready, as the primary's NodeState describes it. */
interface Described {
  replication: {
    position?: {
      local: { index: number; offset: number };
      shadow: { index: number; offset: number } | null;
      replica: { index: number; offset: number } | null;
    };
    lagBytes?: number | null;
  };
}

describe("/ready's shadow WAL position", () => {
  let box: Sandbox | undefined;
  let db: Db | undefined;
  let replication: Replication | undefined;

  afterEach(async () => {
    db?.$client.close();
    await replication?.stop().catch(() => undefined);
    if (replication?.supervisor.state.pid) process.kill(replication.supervisor.state.pid, 'SIGKILL');
    db = replication = undefined;
    box?.cleanup();
  });

  it(
    "is where Litestream's copy of the WAL ends, also after a checkpoint started the next WAL index",
    async () => {
      box = sandbox('directory', undefined, { REPLICA_SYNC_INTERVAL: '100ms' });
      const loaded = loadConfig(box.env);
      if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
      const config = loaded.config;
      db = openDatabase(config.databasePath, { replicating: true });
      applyMigrations(db);
      replication = await startReplication(config, pino({ level: 'silent' }), { restartDelayMs: 60_000 });
      const metrics = () =>
        readLitestreamMetrics(
          (replication as Replication).monitor.metricsUrl,
          litestreamDatabasePath(config.databasePath),
        );

      // Litestream checkpoints once the WAL passes 1,000 pages: ~4 MB of comments, in batches,
      // bounded in count and time.
      const review = aReview(db);
      const body = 'x'.repeat(3000);
      const deadline = Date.now() + 60_000;
      let shadowIndex = 0;
      for (let batch = 0; shadowIndex < 1 && batch < 100 && Date.now() < deadline; batch++) {
        const target = db;
        target.$client.transaction(() => {
          for (let n = 0; n < 100; n++) aComment(target, { reviewId: review.id, body });
        })();
        await new Promise((done) => setTimeout(done, 150));
        shadowIndex = (await metrics()).shadowIndex;
      }
      expect(shadowIndex).toBeGreaterThanOrEqual(1);
      aComment(db, { reviewId: review.id, body: 'the last write' });

      await replication.monitor.waitUntilReplicated(30_000);
      const { replication: described } = replication.node.describe() as unknown as Described;
      expect(described.lagBytes).toBe(0);
      const position = described.position;
      // Litestream keeps the previous shadow WAL beside the current one until the replica is
      // past it: its litestream_shadow_wal_size metric adds both, which is no position at all.
      const kept = (await metrics()).shadowWalBytes;
      expect(kept).toBeGreaterThan(position?.local.offset ?? 0);
      expect(position?.shadow).toEqual(position?.local);
      expect(position?.replica).toEqual(position?.local);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
