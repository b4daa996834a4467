import { type ComparatorBuilder, Etcd3, type Lease as EtcdLeaseHandle, EtcdLeaseInvalidError } from 'etcd3';
import { describeLeaseLocation, type Lease, type LeaseGrant, type LeaseRecord } from './lease.ts';

/** How long one etcd call may take: a renewal slower than this is as good as lost. */
const CALL_DEADLINE_MS = 1000;

/** etcd counts TTLs in whole seconds and may raise a short one to its own minimum. */
const toSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * A lease in etcd (LEASE_URL=etcd://host:port/key), for nodes on several hosts. The key is
 * created only if absent (a transaction on its create revision) and attached to an etcd lease,
 * so etcd deletes it when the TTL runs out: expiry is decided by etcd's clock alone, and
 * contenders never compare their clocks with each other.
 */
export class EtcdLease implements Lease {
  readonly location: string;
  readonly #client: Etcd3;
  readonly #key: string;
  /** The last term granted, kept after the lease key itself expires. */
  readonly #termKey: string;
  #handle: EtcdLeaseHandle | null = null;

  constructor(endpoint: string, key: string) {
    this.location = describeLeaseLocation({ kind: 'etcd', endpoint, key });
    this.#key = key;
    this.#termKey = `${key}/term`;
    this.#client = new Etcd3({
      hosts: endpoint,
      dialTimeout: CALL_DEADLINE_MS,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    });
  }

  async acquire(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number): Promise<LeaseGrant | null> {
    if (await this.current()) return null;
    const lastTerm = Number((await this.#client.get(this.#termKey).number()) ?? 0);
    return this.#take(candidate, ttlMs, lastTerm);
  }

  async regain(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number, lastTerm: number): Promise<LeaseGrant | null> {
    if (await this.current()) return null;
    return this.#take(candidate, ttlMs, lastTerm);
  }

  /**
   * Term `lastTerm` + 1, in one transaction that holds only while the key is absent and the
   * term counter still reads `lastTerm`: of contenders that read the same term, one wins.
   */
  async #take(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number, lastTerm: number): Promise<LeaseGrant | null> {
    const handle = this.#client.lease(toSeconds(ttlMs), { autoKeepAlive: false });
    // A lease the client gave up on must not be renewed behind our back, nor throw unhandled.
    handle.on('lost', () => {});
    const leaseId = await handle.grant();
    const term = lastTerm + 1;
    const record: LeaseRecord = { ...candidate, term };
    // etcd fails every value comparison on a missing key: no term yet is "version 0".
    const termIsLast: Parameters<ComparatorBuilder['and']> =
      lastTerm === 0 ? [this.#termKey, 'Version', '==', 0] : [this.#termKey, 'Value', '==', String(lastTerm)];
    const result = await this.#client
      .if(this.#key, 'Create', '==', 0)
      .and(...termIsLast)
      .then(
        this.#client.put(this.#key).value(JSON.stringify(record)).lease(leaseId),
        this.#client.put(this.#termKey).value(String(term)),
      )
      .commit();
    if (!result.succeeded) {
      await handle.revoke().catch(() => {});
      return null;
    }
    this.#handle = handle;
    const granted = await handle.keepaliveOnce();
    return { term, ttlMs: Number(granted.TTL) * 1000 };
  }

  async renew(grant: LeaseGrant): Promise<LeaseGrant | null> {
    if (!this.#handle) return null;
    const answer = await this.#handle.keepaliveOnce().catch((error: unknown) => {
      // etcd answered: the lease ran out or was revoked. Anything else (unreachable) is thrown.
      if (error instanceof EtcdLeaseInvalidError) return { TTL: '0' };
      throw error;
    });
    const ttlSeconds = Number(answer.TTL);
    if (!(ttlSeconds > 0)) return null;
    return { term: grant.term, ttlMs: ttlSeconds * 1000 };
  }

  async current(): Promise<LeaseRecord | null> {
    const value = await this.#client.get(this.#key).string();
    return value === null ? null : (JSON.parse(value) as LeaseRecord);
  }

  async release(): Promise<void> {
    await this.#handle?.revoke();
    this.#handle = null;
  }

  async close(): Promise<void> {
    this.#handle?.release();
    this.#client.close();
  }
}
