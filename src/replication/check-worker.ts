import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The body of a database check, run in a worker thread (src/replication/file-check.ts): a
 * check reads every page (~3 s at 1 GB), and on the main thread it would stop the lease
 * keeper from renewing for that long.
 */
export interface CheckRequest {
  path: string;
  pragma: string;
  /** Test seam: hold this thread this long after the check, as a multi-GB check would. */
  extraMs: number;
}

/** 'ok', or what the check found. */
function runCheck({ path, pragma, extraMs }: CheckRequest): string {
  let verdict: string;
  const db = new Database(path, { fileMustExist: true });
  try {
    const problems = db.pragma(pragma, { simple: false }) as Record<string, string>[];
    verdict = problems.map((row) => row[pragma]).join('; ');
  } catch (error) {
    // SQLite stops at some damage (a page that is no b-tree page at all) with SQLITE_CORRUPT
    // instead of listing it: that is a verdict too.
    verdict = (error as Error).message;
  } finally {
    db.close();
  }
  if (extraMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, extraMs);
  return verdict;
}

parentPort?.postMessage(runCheck(workerData as CheckRequest));
