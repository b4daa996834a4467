import type { RequestListener } from 'node:http';
import type { Cache } from '@graphql-yoga/plugin-response-cache';
import type { Registry } from 'prom-client';
import type { ClientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import type { NodeState } from '../context.ts';
import type { Db } from '../db/client.ts';
import type { FilePosition } from '../replication/follower.ts';

/**
 * What a process needs from the host it runs in, chosen once where it starts (src/cluster/host.ts):
 * a lone process (WORKERS=1, tests: src/host/single-process.ts), or one process of several on
 * one host under a supervisor (src/cluster/cluster-host.ts). Everything a process shares with
 * the others of its host goes through here; nothing below the start-up asks which it is.
 */
export interface Host {
  /** Where an app's live-update events are dispatched: a subscriber may be on any process. */
  reviewEvents(): EventTarget;
  /** An app's registry, for /metrics: one scrape sums every process's (the newest app's wins). */
  shareMetrics(registry: Registry): void;
  /** RESPONSE_CACHE=on: an app's cache, whose invalidations reach every process's. */
  responseCache(cache: Cache): Cache;
  /** Places for live subscriptions, bounded by the limits for the whole host. */
  subscriptionSeats(limits: SeatLimits): Seats;
  /** The writer's newest app (a takeover replaces it): what other processes serve follows it. */
  appServed(db: Db, node: NodeState): void;
  /** A standby's writer: the other processes reading its followed file. Undefined when none do. */
  readonly fileSharers: FileSharers | undefined;
  /**
   * What the server on the shared port serves in this process (the app, or host-wide routes
   * before it), and what it opens beside it; `close` once the server has closed.
   */
  attach(app: RequestListener, clientAddress: ClientAddressOf): Promise<AttachedToHost>;
}

export type SeatLimits = Pick<Config, 'maxSubscriptions' | 'maxSubscriptionsPerAddress'>;

/** Where a process takes its places: its own counts, or the host's. */
export interface Seats {
  take(address: string): boolean | Promise<boolean>;
  give(address: string): void;
}

export interface AttachedToHost {
  handler: RequestListener;
  close(): Promise<void>;
}

/** A followed file as a standby serves it: which, how far it is, and since when that is fresh. */
export interface ServedFile {
  path: string;
  position: FilePosition;
  /** Epoch ms at which the served data was the replica's newest: when the follower last listed it. */
  freshAt: number;
}

/**
 * The other processes of a host that read a standby's served file too: its read workers. A
 * followed file is written only once none of them has it attached any more.
 */
export interface FileSharers {
  /** The served file changed (another one, or none): the others are told, and follow `reads`. */
  served(reads: { readonly served: Readonly<ServedFile> | null }): void;
  /**
   * Resolves once every other process reads the file served now (or none), so that the file
   * not served may be written; rejects when one did not say so within a bound. `evict`: one
   * that did not is stopped instead (a promotion must go on; its process is started again).
   */
  letGo(options: { evict: boolean }): Promise<void>;
}
