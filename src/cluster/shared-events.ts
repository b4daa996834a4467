import type { SupervisorChannel } from './ipc.ts';
import type { HostEvent } from './messages.ts';
import { batchPerTurn } from './turn-batch.ts';

/**
 * An EventTarget whose events reach every process of the host: a write runs on the writer,
 * its subscribers may be connected to any read worker. Dispatched here at once and sent to
 * the supervisor, which hands them to the others, the events of one turn in one message;
 * what arrives is dispatched here only.
 */
export class HostEventTarget extends EventTarget {
  readonly #send: (event: HostEvent) => void;

  constructor(channel: SupervisorChannel) {
    super();
    this.#send = batchPerTurn<HostEvent>((events) => channel.tell({ type: 'cluster:events', events }));
    channel.on('cluster:events', ({ events }) => {
      for (const { name, detail } of events) super.dispatchEvent(new CustomEvent(name, { detail }));
    });
  }

  override dispatchEvent(event: Event): boolean {
    this.#send({ name: event.type, detail: (event as CustomEvent).detail });
    return super.dispatchEvent(event);
  }
}
