import type { Lease, LeaseLocation } from './lease.ts';

/** Opens the lease a location names; etcd's client is loaded only when it is used. */
export async function openLease(location: LeaseLocation): Promise<Lease> {
  if (location.kind === 'file') {
    const { FileLease } = await import('./file-lease.ts');
    return new FileLease(location.path);
  }
  const { EtcdLease } = await import('./etcd-lease.ts');
  return new EtcdLease(location.endpoint, location.key);
}
