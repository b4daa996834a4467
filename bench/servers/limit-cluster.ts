import cluster from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { logListening } from './listening.ts';

/**
 * The limit at WORKERS processes, sharing the port as `reviews-api serve` does (node:cluster
 * hands each connection to one process): the same count of cores for both, and the same
 * accept path. Every process answers everything, writes included, on its own connection to
 * the file (SQLite's busy timeout serializes the writers): the cheapest a write can be.
 * Resolves true in the primary once its processes have stopped; false where the limit runs.
 */
export async function runAsCluster(workers: number): Promise<boolean> {
  if (workers <= 1 || !cluster.isPrimary) return false;
  const forked = Array.from({ length: workers }, () => cluster.fork());
  const listening = await Promise.all(
    forked.map(async (worker) => (await once(worker, 'listening'))[0] as AddressInfo),
  );
  logListening(listening[0] as AddressInfo);
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  for (const worker of forked) worker.process.kill('SIGTERM');
  await Promise.all(forked.map((worker) => once(worker, 'exit')));
  return true;
}
