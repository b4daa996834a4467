import type { ServedFile } from '../host/host.ts';

/** What the processes of one host tell each other over node:cluster's IPC channel. */

/**
 * What the writer tells the read workers about the data they may serve:
 * - `primary`: the writer is a primary that holds its lease; read workers answer reads from
 *   `databasePath`, opened read-only;
 * - `followed`: the writer is a standby serving reads from `file`; read workers attach the same
 *   file and answer reads by the standby's rules (src/failover/standby-reads.ts);
 * - `writer` (starting, promoting without data, deposed): they hand every request to the
 *   writer, which answers as a lone process of that role would.
 */
export type HostState =
  | { reads: 'primary'; databasePath: string }
  | { reads: 'followed'; file: ServedFile }
  | { reads: 'writer' };

/**
 * A host state as sent: numbered by the writer, one up per change. A read worker says which
 * turn it took once it reads only what that state names (src/cluster/reader-turns.ts).
 */
export interface HostStateMessage {
  type: 'cluster:host-state';
  state: HostState;
  turn: number;
}

/** One process of the host as /ready lists it. */
export interface ProcessInfo {
  role: 'supervisor' | 'writer' | 'reader';
  pid: number;
  upSince: string;
  /** Requests this process received from clients; null if it did not answer in time. */
  requestsServed: number | null;
}

/** A live-update event (src/pubsub.ts) published on one process, for the others' subscribers. */
export interface HostEvent {
  name: string;
  detail: unknown;
}

/** The events one process published in one turn of its event loop (src/cluster/turn-batch.ts). */
export interface EventsMessage {
  type: 'cluster:events';
  events: HostEvent[];
}

/** RESPONSE_CACHE=on: entities a write invalidated, to drop from every process's cache. */
export type Invalidated = { typename: string; id?: string | number }[];

/**
 * Supervisor → each other worker: drop `entities`, then say so (`cluster:invalidated` with
 * `id`), so that the write's answer leaves only once no process can answer from before it.
 */
export interface InvalidateMessage {
  type: 'cluster:invalidate';
  id: number;
  entities: Invalidated;
}

/**
 * A worker's question to the supervisor: the host's metrics, its process table, or a place for
 * one more subscription from `address` (src/cluster/shared-seats.ts).
 */
export type Question =
  | { question: 'metrics' }
  | { question: 'processes' }
  | { question: 'seat'; address: string }
  /** The writer: drop `entities` from every other process's cache, answered once they did. */
  | { question: 'invalidate'; entities: Invalidated }
  /** The writer: have every live read worker take `turn` (`evict`: or be stopped)? */
  | { question: 'turn-taken'; turn: number; evict: boolean };

/** Worker → supervisor. */
export type ToSupervisor =
  | EventsMessage
  | { type: 'cluster:invalidated'; id: number }
  | { type: 'cluster:writer-up' }
  | { type: 'cluster:reader-up' }
  | HostStateMessage
  | { type: 'cluster:turn-taken'; turn: number }
  | ({ type: 'cluster:ask'; id: number } & Question)
  | { type: 'cluster:seat-free'; address: string }
  | { type: 'cluster:stats'; id: number; requestsServed: number };

/** Supervisor → worker. */
export type ToWorker =
  | EventsMessage
  | InvalidateMessage
  | HostStateMessage
  | {
      type: 'cluster:answer';
      id: number;
      metrics?: string;
      processes?: ProcessInfo[];
      /** A seat, a turn every live read worker took, or an invalidation every other process made. */
      granted?: boolean;
      error?: string;
    }
  | { type: 'cluster:stats?'; id: number };

export function isClusterMessage(message: unknown): message is { type: string } {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('cluster:')
  );
}
