import type { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.ts';
import { startWorkerBeside } from '../threads.ts';
import { WriteDeadline } from './deadline.ts';
import { newHolderId, type Tenure } from './keeper.ts';
import type { KeeperCall, KeeperMessage, KeeperThreadData } from './keeper-thread.ts';
import {
  describeLeaseLocation,
  type LeaseLocation,
  type LeaseLoss,
  type LeaseRecord,
  LeaseStoreError,
  type LeaseTimings,
} from './lease.ts';

export interface ThreadedKeeperOptions {
  location: LeaseLocation;
  timings: LeaseTimings;
  logger: Logger;
  url: string | null;
}

/**
 * A LeaseKeeper (src/lease/keeper.ts) on a thread of its own (keeper-thread.ts), seen from the
 * thread that serves requests. "May I write?" is answered here, synchronously, from the write
 * deadline both threads share: exact at the moment of asking, and refused on the first request
 * after a freeze. Everything else is a message to the keeper's thread.
 */
export class ThreadedLeaseKeeper implements Tenure {
  readonly holder = newHolderId();
  readonly location: string;
  readonly #worker: Worker;
  readonly #deadline = new WriteDeadline();
  readonly #logger: Logger;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #listeners = new Set<(loss: LeaseLoss) => void>();
  #nextId = 0;
  #term: number | null = null;
  #regains: Tenure['regains'] = { count: 0, lastAt: null };
  /** The keeper thread's loss, as it last told: the deadline below may run out before it tells. */
  #loss: LeaseLoss | null = null;
  #exited: Error | null = null;

  constructor({ location, timings, logger, url }: ThreadedKeeperOptions) {
    this.location = describeLeaseLocation(location);
    this.#logger = logger;
    const data: KeeperThreadData = { location, timings, url, holder: this.holder, deadline: this.#deadline.buffer };
    this.#worker = startWorkerBeside(import.meta.url, 'keeper-thread', data);
    this.#worker.on('message', (message: KeeperMessage) => this.#receive(message));
    this.#worker.on('error', (error) => logger.error({ error: error.message }, 'lease keeper thread failed'));
    this.#worker.on('exit', (code) => {
      // No thread renews any more: the deadline runs out by itself; nothing left to answer.
      this.#exited = new Error(`the lease keeper thread exited (code ${code})`);
      for (const { reject } of this.#pending.values()) reject(this.#exited);
      this.#pending.clear();
    });
  }

  get term(): number | null {
    return this.#term;
  }

  get regains(): Tenure['regains'] {
    return this.#regains;
  }

  whyNotHeld(): LeaseLoss | null {
    if (this.#loss) return this.#loss;
    if (this.#term === null) return { kind: 'not-held' };
    if (this.#deadline.passed()) return { kind: 'expired', storeError: null };
    return null;
  }

  onLost(listener: (loss: LeaseLoss) => void): void {
    this.#listeners.add(listener);
  }

  current(): Promise<LeaseRecord | null> {
    return this.#call('current') as Promise<LeaseRecord | null>;
  }

  tryAcquire(): Promise<boolean> {
    return this.#call('tryAcquire') as Promise<boolean>;
  }

  regain(): Promise<boolean> {
    return this.#call('regain') as Promise<boolean>;
  }

  async release(): Promise<void> {
    await this.#call('release');
  }

  /** Stops renewing and ends the thread (closing the lease store's client) without giving the lease up. */
  stop(): void {
    if (this.#exited) return;
    this.#worker.postMessage({ call: 'close' } satisfies KeeperCall);
    // Whatever the store's client still has open, the thread never holds the process up.
    this.#worker.unref();
  }

  #call(call: Extract<KeeperCall, { id: number }>['call']): Promise<unknown> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, call } satisfies KeeperCall);
    });
  }

  #receive(message: KeeperMessage) {
    if (message.type === 'log') return this.#logger[message.level](message.fields, message.message);
    if (message.type === 'state') {
      this.#term = message.term;
      this.#regains = message.regains;
      this.#loss = message.loss;
      return;
    }
    if (message.type === 'lost') {
      this.#loss = message.loss;
      for (const listener of this.#listeners) listener(message.loss);
      return;
    }
    const pending = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    if (message.error) pending?.reject(new LeaseStoreError(message.error));
    else pending?.resolve(message.value);
  }
}
