import cluster from 'node:cluster';

/**
 * With WORKERS > 1 a host runs a supervisor (node:cluster's primary, serving nothing) and
 * these processes under it: one writer (lease, Litestream, every mutation) and read workers.
 */
export type ProcessRole = 'writer' | 'reader';

/** Set by the supervisor on each process it forks; never by an operator. */
export const ROLE_VARIABLE = 'REVIEWS_API_PROCESS_ROLE';
/** The writer's unix socket, where read workers hand over what they must not answer. */
export const SOCKET_VARIABLE = 'REVIEWS_API_WRITER_SOCKET';
/** The header a read worker sends over the socket with its client's address (rate limits). */
export const CLIENT_ADDRESS_HEADER = 'x-reviews-api-client-address';

/** This worker's role on a host of several, as its supervisor set it (src/cluster/host.ts alone asks). */
export function processRole(): ProcessRole | null {
  if (!cluster.isWorker) return null;
  const role = process.env[ROLE_VARIABLE];
  return role === 'writer' || role === 'reader' ? role : null;
}

export function writerSocket(): string {
  const path = process.env[SOCKET_VARIABLE];
  if (!path) throw new Error(`${SOCKET_VARIABLE} is not set: a worker is started by its supervisor`);
  return path;
}
