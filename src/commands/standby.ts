import type { Config } from '../config.ts';
import { runFencedNode } from '../failover/node.ts';
import type { Host } from '../host/host.ts';
import { type LeaseLocation, leaseLocation } from '../lease/lease.ts';
import type { Logger } from '../logger.ts';

/**
 * The lease that fences this node's writes, or null when there is none: REPLICATION=off has
 * nothing to fence, and an S3 replica without LEASE_URL spans hosts no file lease can cover.
 */
export function fencingLease(config: Config): LeaseLocation | null {
  return config.replication ? leaseLocation(config) : null;
}

/** `reviews-api standby --primary URL`: stands by for the primary at URL, promotes when it is gone. */
export async function standby(config: Config, logger: Logger, primaryUrl: string, host: Host): Promise<void> {
  const location = fencingLease(config);
  if (!location) {
    throw new Error(
      config.replication
        ? 'standby needs a lease: set LEASE_URL (etcd://host:port/key) for an S3 replica'
        : 'standby needs REPLICATION=on: it restores from the replica and replicates when promoted',
    );
  }
  await runFencedNode(config, logger, location, { primaryUrl: primaryUrl.replace(/\/+$/, ''), host });
}
