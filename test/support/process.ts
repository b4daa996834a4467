import { type ServerProcess, startServerProcess } from '../../harness/server-process.ts';

export { runCli, spawnCollecting } from '../../harness/server-process.ts';
export type Served = ServerProcess;

/** Starts `reviews-api serve` on an ephemeral port and resolves once it listens. */
export const startServe = (env: Record<string, string>): Promise<Served> => startServerProcess({ env });
