import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * One PRAGMA on a database file, run in a worker thread (src/replication/file-check.ts): a check
 * reads every page (~3 s at 1 GB); on the main thread it would stop the lease keeper from
 * renewing for that long.
 */
export interface PragmaRequest {
  path: string;
  pragma: string;
  /** Test seam: hold this thread this long after the PRAGMA, as a multi-GB file would. */
  extraMs: number;
}

/** The PRAGMA's rows, or the error SQLite stopped with. */
export type PragmaReply = { rows: Record<string, unknown>[] } | { error: string };

function runPragma({ path, pragma, extraMs }: PragmaRequest): PragmaReply {
  let reply: PragmaReply;
  const db = new Database(path, { fileMustExist: true });
  try {
    reply = { rows: db.pragma(pragma, { simple: false }) as Record<string, unknown>[] };
  } catch (error) {
    reply = { error: (error as Error).message };
  } finally {
    db.close();
  }
  if (extraMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, extraMs);
  return reply;
}

parentPort?.postMessage(runPragma(workerData as PragmaRequest));
