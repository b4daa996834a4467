import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config.ts';
import { isS3Url } from '../replica-url.ts';

/** Who holds the lease: the holder's id and, when it serves HTTP, the URL a standby watches. */
export interface LeaseRecord {
  holder: string;
  url: string | null;
  /** Goes up by one each time the lease changes hands: a fencing token for logs and checks. */
  term: number;
}

/** A lease granted or renewed: valid for ttlMs from the moment the request was sent. */
export interface LeaseGrant {
  term: number;
  ttlMs: number;
}

/**
 * Why this node may not write by its lease, as a kind callers decide on (never a message to
 * match): the lease was never taken (`not-held`), no renewal succeeded before the holder's own
 * deadline (`expired`; `storeError` is the last renewal's failure when the store did not
 * answer, null when the answers came too late), the store answered that it is no longer ours
 * (`taken`: another node has it, or it ran out there), or it was given up on purpose
 * (`released`: never taken up again).
 */
export type LeaseLoss =
  | { kind: 'not-held' }
  | { kind: 'expired'; storeError: string | null }
  | { kind: 'taken' }
  | { kind: 'released' };

/** A loss in words, for logs, /ready and READ_ONLY answers. */
export function describeLoss(loss: LeaseLoss): string {
  switch (loss.kind) {
    case 'not-held':
      return 'lease not held';
    case 'expired':
      return `lease lost: it expired before a renewal succeeded${loss.storeError ? ` (the lease store did not answer: ${loss.storeError})` : ''}`;
    case 'taken':
      return 'lease lost: the lease store says it is no longer ours';
    case 'released':
      return 'lease lost: released';
  }
}

/** Work that needed the lease stopped because it was lost (a promotion between two steps). */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor(readonly loss: LeaseLoss) {
    super(describeLoss(loss));
  }
}

/** The lease store did not answer (unreachable, or failed): nothing is known about the lease. */
export class LeaseStoreError extends Error {
  override name = 'LeaseStoreError';
}

/**
 * A lease that at most one node holds at a time. Implementations keep the expiry where every
 * contender reads it (a file on one host, etcd across hosts); the holder works out its own
 * deadline from its monotonic clock (src/lease/keeper.ts), never from a timestamp it was sent.
 */
export interface Lease {
  /** Where the lease lives, for logs and /ready. */
  readonly location: string;
  /** Takes the lease if no live holder has it; null when someone else holds it. */
  acquire(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number): Promise<LeaseGrant | null>;
  /**
   * Takes the lease again, as term `lastTerm` + 1, only if it is free and `lastTerm` (this
   * node's lost term) is still the last one granted: nobody held it since, so nobody wrote
   * since. Null otherwise.
   */
  regain(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number, lastTerm: number): Promise<LeaseGrant | null>;
  /** Extends a lease this node holds; null when it is no longer ours (expired or taken). */
  renew(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null>;
  /** The live holder, or null when the lease is free. */
  current(): Promise<LeaseRecord | null>;
  /** Gives the lease up at once (planned switchover), if it is still ours. */
  release(grant: LeaseGrant): Promise<void>;
  close(): Promise<void>;
}

/**
 * How long a lease lasts and how the holder keeps it. The TTL equals the time a standby needs
 * to declare the primary gone (interval × misses, at least MIN_TTL_MS), so a dead primary's
 * lease runs out about when the standby wants it. The holder renews five times per TTL and
 * stops writing one fifth of a TTL before the lease could expire: that margin absorbs a slow
 * renewal round trip and clock rate drift (docs/operations.md, "Fencing": clock-drift bounds).
 */
export interface LeaseTimings {
  ttlMs: number;
  renewEveryMs: number;
  safetyMarginMs: number;
}

/**
 * Below this, a busy host (a long GC, a starved event loop) misses renewals often enough to
 * depose a healthy primary: the drill saw it at 600 ms on a loaded two-core machine.
 */
const MIN_TTL_MS = 1000;

export function leaseTimings({
  heartbeatIntervalMs,
  heartbeatMisses,
}: Pick<Config, 'heartbeatIntervalMs' | 'heartbeatMisses'>): LeaseTimings {
  const ttlMs = Math.max(heartbeatIntervalMs * heartbeatMisses, MIN_TTL_MS);
  return { ttlMs, renewEveryMs: Math.round(ttlMs / 5), safetyMarginMs: Math.round(ttlMs / 5) };
}

/**
 * How long a dead holder's Litestream may go on shipping its last frames: it must be gone
 * before the lease expires and another node replicates the same database. The holder may die
 * just before a renewal, one `renewEveryMs` after the last; the lease runs out `ttlMs` after
 * that one was sent, and the safety margin absorbs the kernel's and `timeout`'s latency.
 */
export function orphanGraceMs(config: Pick<Config, 'heartbeatIntervalMs' | 'heartbeatMisses'>): number {
  const { ttlMs, renewEveryMs, safetyMarginMs } = leaseTimings(config);
  return ttlMs - renewEveryMs - safetyMarginMs;
}

export type LeaseLocation = { kind: 'file'; path: string } | { kind: 'etcd'; endpoint: string; key: string };

/** A lease location as logs and /ready show it: LEASE_URL's own spelling. */
export function describeLeaseLocation(location: LeaseLocation): string {
  if (location.kind === 'file') return `file:${location.path}`;
  return `etcd://${location.endpoint.replace(/^https?:\/\//, '')}/${location.key}`;
}

/**
 * LEASE_URL read as what it names. Unset: a lease directory beside a directory replica (both
 * nodes of one host share it as they share the replica); an S3 replica spans hosts, so it needs
 * an explicit etcd:// lease, and null says there is none.
 */
export function leaseLocation({ leaseUrl, replicaUrl }: Pick<Config, 'leaseUrl' | 'replicaUrl'>): LeaseLocation | null {
  if (leaseUrl?.startsWith('file:')) return { kind: 'file', path: resolve(leaseUrl.slice('file:'.length)) };
  if (leaseUrl?.startsWith('etcd://')) {
    const rest = leaseUrl.slice('etcd://'.length);
    const slash = rest.indexOf('/');
    return { kind: 'etcd', endpoint: `http://${rest.slice(0, slash)}`, key: rest.slice(slash + 1) };
  }
  if (isS3Url(replicaUrl)) return null;
  const replica = resolve(replicaUrl);
  return { kind: 'file', path: join(dirname(replica), `${replica.split('/').pop()}.lease`) };
}
