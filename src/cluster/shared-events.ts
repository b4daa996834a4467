import { onSupervisor, tellSupervisor } from './ipc.ts';
import type { HostEvent } from './messages.ts';
import { processRole } from './role.ts';
import { batchPerTurn } from './turn-batch.ts';

/**
 * An EventTarget whose events reach every process of the host: a write runs on the writer,
 * its subscribers may be connected to any read worker. Dispatched here at once and sent to
 * the supervisor, which hands them to the others, the events of one turn in one message;
 * what arrives is dispatched here only.
 */
class HostEventTarget extends EventTarget {
  readonly #send = batchPerTurn<HostEvent>((events) => tellSupervisor({ type: 'cluster:events', events }));

  constructor() {
    super();
    onSupervisor('cluster:events', ({ events }) => {
      for (const { name, detail } of events) super.dispatchEvent(new CustomEvent(name, { detail }));
    });
  }

  override dispatchEvent(event: Event): boolean {
    this.#send({ name: event.type, detail: (event as CustomEvent).detail });
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
