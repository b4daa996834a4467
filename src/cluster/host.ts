import cluster from 'node:cluster';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { processRole } from './role.ts';

/**
 * `serve` and `standby` on a host: with WORKERS=1 the command itself, as a single process. With
 * more, this process supervises (src/cluster/supervisor.ts), and each process it forks runs this
 * again: the writer runs the command, a read worker runs src/cluster/reader.ts.
 */
export async function runOnHost(config: Config, logger: Logger, runWriter: () => Promise<void>): Promise<void> {
  if (config.workers === 1) return runWriter();
  if (cluster.isPrimary) {
    // Loaded only here: the supervisor itself never loads the GraphQL stack.
    const { superviseHost } = await import('./supervisor.ts');
    process.exitCode = await superviseHost(config, logger);
    return;
  }
  try {
    if (processRole() === 'reader') await (await import('./reader.ts')).runReader(config, logger);
    else await runWriter();
  } finally {
    // The channel to the supervisor holds a worker's event loop open after its work is done.
    if (process.connected) process.disconnect();
  }
}
