import type { Db } from './db/client.ts';
import type { RunningServer } from './http/server.ts';
import type { Replication } from './replication/primary.ts';

/** Resolves with the first SIGTERM or SIGINT: the way a server is asked to stop. */
export function stopRequested(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

/**
 * The shutdown order of every server, fenced or not: HTTP first (requests in flight finish),
 * then the database, then Litestream, which ships the last WAL frames before it exits. A
 * fenced node gives its lease up only after this, so a standby never restores too early.
 */
export async function shutDown(running: RunningServer, serving?: Serving) {
  await running.close();
  if (serving) await closeServing(serving, { shipFirst: true });
}

interface Serving {
  db: Db;
  replication?: Replication;
}

/** The database, then Litestream: after shipping its last frames if `shipFirst` (a planned stop). */
export async function closeServing({ db, replication }: Serving, { shipFirst }: { shipFirst: boolean }) {
  db.$client.close();
  await replication?.stop({ shipFirst });
}
