import type { Config } from '../config.ts';
import { openDatabase } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { runFencedNode } from '../failover/node.ts';
import type { Host } from '../host/host.ts';
import { announceListening, listen } from '../http/server.ts';
import { createApp } from '../http/yoga.ts';
import { shutDown, stopRequested } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { type Replication, startReplication } from '../replication/primary.ts';
import { restoreIfMissing } from '../replication/restore.ts';
import { fencingLease } from './standby.ts';

/**
 * Serves the API until SIGTERM or SIGINT. With REPLICATION=on (the default) a missing database
 * is first restored from the replica, and Litestream runs beside the server for as long as it
 * does. Shutdown goes in order: HTTP (requests in flight finish), the database, then Litestream,
 * which ships the last WAL frames before it exits.
 */
export async function serve(config: Config, logger: Logger, host: Host): Promise<void> {
  if (config.durability === 'replicated' && !config.replication) {
    throw new Error('DURABILITY=replicated needs REPLICATION=on: without Litestream no write reaches a replica');
  }
  // Fenced by a lease (docs/operations.md, "High availability"): primary if the lease is free, else a standby.
  const lease = fencingLease(config);
  if (lease) return runFencedNode(config, logger, lease, { host });
  if (config.replication) await restoreIfMissing(config, logger);
  const db = openDatabase(config.databasePath, { replicating: config.replication });
  let replication: Replication | undefined;
  try {
    applyMigrations(db);
    if (config.replication) replication = await startReplication(config, logger);
  } catch (error) {
    db.$client.close();
    throw error;
  }
  const app = createApp({ db, config, logger, host, ...(replication && { node: replication.node }) });
  const running = await listen(app.handle, config, { onHost: host });
  announceListening(logger, running);
  logger.info({ signal: await stopRequested() }, 'shutting down');
  await shutDown(running, { db, ...(replication && { replication }) });
  logger.info('stopped');
}
