import { startWorkerBeside } from '../threads.ts';
import type { PragmaReply, PragmaRequest } from './check-worker.ts';

/**
 * Test seam: RESTORE_CHECK_EXTRA_MS makes every PRAGMA run here (a restore's check) hold its
 * thread that much longer, and a standby's WAL apply (src/replication/follower.ts) wait that
 * long, so a test can give a small database the times of a large one. Unset in production.
 */
export function stepExtraMs(): number {
  const value = process.env.RESTORE_CHECK_EXTRA_MS;
  if (value === undefined || value === '') return 0;
  if (!/^\d+$/.test(value)) throw new Error(`RESTORE_CHECK_EXTRA_MS must be a whole number of ms, not "${value}"`);
  return Number(value);
}

/**
 * Runs `PRAGMA <pragma>` on the file at `path` in a worker thread of its own. The event loop stays free
 * meanwhile: the lease keeper renews and HTTP answers while a large file is read or written.
 */
function runPragmaOffThread(path: string, pragma: string): Promise<PragmaReply> {
  const request: PragmaRequest = { path, pragma, extraMs: stepExtraMs() };
  return new Promise((resolve, reject) => {
    const worker = startWorkerBeside(import.meta.url, 'check-worker', request);
    let reply: PragmaReply | null = null;
    worker.once('message', (message: PragmaReply) => {
      reply = message;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (reply !== null) resolve(reply);
      else reject(new Error(`the ${pragma} worker exited with code ${code} before answering`));
    });
  });
}

/**
 * A check's verdict on the file at `path`, off the event loop: 'ok', or what it found. SQLite
 * stops at some damage (a page that is no b-tree page at all) with SQLITE_CORRUPT instead of
 * listing it: that is a verdict too.
 */
export async function checkDatabaseFile(path: string, pragma: string): Promise<string> {
  const reply = await runPragmaOffThread(path, pragma);
  return 'error' in reply ? reply.error : reply.rows.map((row) => row[pragma]).join('; ');
}
