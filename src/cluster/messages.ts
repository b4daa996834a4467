/** What the processes of one host tell each other over node:cluster's IPC channel. */

/** What the writer tells the read workers about the file they may serve. */
export interface HostState {
  /**
   * True while the writer is a primary that holds its lease: read workers answer reads from
   * `databasePath`. False (starting, standby, deposed): they hand every request to the writer,
   * which answers as a lone process of that role would.
   */
  serveReads: boolean;
  databasePath: string | null;
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
export interface InvalidateMessage {
  type: 'cluster:invalidate';
  entities: { typename: string; id?: string | number }[];
}

/**
 * A worker's question to the supervisor: the host's metrics, its process table, or a place for
 * one more subscription from `address` (src/cluster/shared-seats.ts).
 */
export type Question = { question: 'metrics' } | { question: 'processes' } | { question: 'seat'; address: string };

/** Worker → supervisor. */
export type ToSupervisor =
  | EventsMessage
  | InvalidateMessage
  | { type: 'cluster:writer-up' }
  | { type: 'cluster:reader-up' }
  | { type: 'cluster:host-state'; state: HostState }
  | ({ type: 'cluster:ask'; id: number } & Question)
  | { type: 'cluster:seat-free'; address: string }
  | { type: 'cluster:stats'; id: number; requestsServed: number };

/** Supervisor → worker. */
export type ToWorker =
  | EventsMessage
  | InvalidateMessage
  | { type: 'cluster:host-state'; state: HostState }
  | {
      type: 'cluster:answer';
      id: number;
      metrics?: string;
      processes?: ProcessInfo[];
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
