import { onSupervisor, tellSupervisor } from './ipc.ts';
import { processRole } from './role.ts';

/**
 * An EventTarget whose events reach every process of the host: a write runs on the writer,
 * its subscribers may be connected to any read worker. Dispatched here at once and sent to
 * the supervisor, which hands it to the others; what arrives is dispatched here only.
 */
class HostEventTarget extends EventTarget {
  constructor() {
    super();
    onSupervisor('cluster:event', ({ name, detail }) => {
      super.dispatchEvent(new CustomEvent(name, { detail }));
    });
  }

  override dispatchEvent(event: Event): boolean {
    tellSupervisor({ type: 'cluster:event', name: event.type, detail: (event as CustomEvent).detail });
    return super.dispatchEvent(event);
  }
}

let shared: HostEventTarget | undefined;

/** For createPubSub: undefined when this process serves alone (its own EventTarget will do). */
export function hostEventTarget(): EventTarget | undefined {
  if (!processRole()) return undefined;
  shared ??= new HostEventTarget();
  return shared;
}
