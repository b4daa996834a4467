import { AggregatorRegistry, type Registry } from 'prom-client';
import { processRole } from './role.ts';

let shared = false;

/**
 * On a host of several processes, the registry the supervisor collects for the host's one
 * /metrics (prom-client's AggregatorRegistry sums the processes' series). The latest app's
 * registry wins: after a takeover it is the primary's. `unlessShared`: a placeholder that
 * answers until an app shares its own.
 */
export function shareRegistryWithHost(registry: Registry, { unlessShared = false } = {}): void {
  if (!processRole() || (unlessShared && shared)) return;
  // Constructing one installs prom-client's answer to the supervisor's requests in this process.
  if (!shared) new AggregatorRegistry();
  shared = true;
  AggregatorRegistry.setRegistries([registry]);
}
