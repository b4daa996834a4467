import { parentPort, workerData } from 'node:worker_threads';
import { WriteDeadline } from './deadline.ts';
import { type KeeperLog, LeaseKeeper } from './keeper.ts';
import type { LeaseLocation, LeaseLoss, LeaseTimings } from './lease.ts';
import { openLease } from './open-lease.ts';

/**
 * The lease keeper's own thread (src/lease/threaded-keeper.ts starts it): its timers, the lease
 * store's I/O (a file's rename, etcd's client) and its clock never wait for the thread that
 * serves requests, whatever that thread is busy with (a long request, a synchronous SQLite
 * statement held up by the disk, a garbage collection).
 */
export interface KeeperThreadData {
  location: LeaseLocation;
  timings: LeaseTimings;
  url: string | null;
  holder: string;
  deadline: SharedArrayBuffer;
}

/** What the serving thread asks, one call at a time per id. */
export type KeeperCall = { id: number; call: 'current' | 'tryAcquire' | 'regain' | 'release' } | { call: 'close' };

/** What this thread tells: an answer to a call, a log line, a loss, or its state after a call. */
export type KeeperMessage =
  | { type: 'answer'; id: number; value: unknown; error?: string }
  | { type: 'log'; level: 'info' | 'warn'; fields: object; message: string }
  | { type: 'lost'; loss: LeaseLoss }
  | { type: 'state'; term: number | null; regains: { count: number; lastAt: string | null }; loss: LeaseLoss | null };

const port = parentPort;
if (!port) throw new Error('keeper-thread.ts runs as a worker thread');
const data = workerData as KeeperThreadData;
const tell = (message: KeeperMessage) => port.postMessage(message);
const logger: KeeperLog = {
  info: (fields, message) => tell({ type: 'log', level: 'info', fields, message }),
  warn: (fields, message) => tell({ type: 'log', level: 'warn', fields, message }),
};
const lease = await openLease(data.location);
const keeper = new LeaseKeeper({
  lease,
  timings: data.timings,
  logger,
  url: data.url,
  holder: data.holder,
  deadline: new WriteDeadline(data.deadline),
});
keeper.onLost((loss) => tell({ type: 'lost', loss }));

port.on('message', async (message: KeeperCall) => {
  if (message.call === 'close') {
    keeper.stop();
    await lease.close().catch(() => {});
    port.close();
    return;
  }
  try {
    const value = await keeper[message.call]();
    // Its own loss, not whyNotHeld(): the serving thread reads the deadline itself.
    tell({ type: 'state', term: keeper.term, regains: keeper.regains, loss: keeper.loss });
    tell({ type: 'answer', id: message.id, value });
  } catch (error) {
    tell({ type: 'answer', id: message.id, value: null, error: (error as Error).message });
  }
});
