import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * On a host of several processes, the registry the supervisor collects for the host's one
 * /metrics (prom-client's AggregatorRegistry sums the processes' series). The latest app's
 * registry wins: after a takeover it is the primary's.
 */
export class SharedRegistry {
  #shared = false;

  /** `registry` is what this process answers from now on. */
  share(registry: Registry): void {
    // Constructing one installs prom-client's answer to the supervisor's requests in this process.
    if (!this.#shared) new AggregatorRegistry();
    this.#shared = true;
    AggregatorRegistry.setRegistries([registry]);
  }

  /** The supervisor asks every process from the start: before its first app, an empty registry answers. */
  shareUntilAnApp(registry: Registry): void {
    if (!this.#shared) this.share(registry);
  }
}
