import cluster from 'node:cluster';
import type { Config } from '../config.ts';
import type { Host } from '../host/host.ts';
import { singleProcess } from '../host/single-process.ts';
import type { Logger } from '../logger.ts';
import { ClusterHost } from './cluster-host.ts';
import { SupervisorChannel } from './ipc.ts';
import { processRole, writerSocket } from './role.ts';

/**
 * `serve` and `standby` on a host: with WORKERS=1 the command itself, as a single process. With
 * more, this process supervises (src/cluster/supervisor.ts), and each process it forks runs this
 * again: the writer runs the command, a read worker runs src/cluster/reader.ts. The one place
 * that asks which: every process is handed its Host from here.
 */
export async function runOnHost(
  config: Config,
  logger: Logger,
  runWriter: (host: Host) => Promise<void>,
): Promise<void> {
  if (config.workers === 1) return runWriter(singleProcess);
  if (cluster.isPrimary) {
    // Loaded only here: the supervisor itself never loads the GraphQL stack.
    const { superviseHost } = await import('./supervisor.ts');
    process.exitCode = await superviseHost(config, logger);
    return;
  }
  try {
    const role = processRole();
    if (!role) throw new Error('a worker of this host was forked without its role');
    const host = new ClusterHost(role, writerSocket(), new SupervisorChannel(process));
    if (role === 'reader') await (await import('./reader.ts')).runReader(config, logger, host);
    else await runWriter(host);
  } finally {
    // The channel to the supervisor holds a worker's event loop open after its work is done.
    if (process.connected) process.disconnect();
  }
}
