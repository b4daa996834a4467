import type { Seats } from '../host/host.ts';
import { SubscriptionSeats } from '../host/subscription-seats.ts';
import type { SupervisorChannel } from './ipc.ts';

/**
 * A process's places for subscriptions on a host of several: the host's, kept by the supervisor
 * (one address may hold MAX_SUBSCRIPTIONS_PER_ADDRESS streams on the whole host, whichever
 * processes its connections reached). A place the supervisor does not grant in time is
 * refused: the bound holds while it is busy.
 */
export function seatsAcrossHost(channel: SupervisorChannel): Seats {
  return {
    take: (address) => channel.ask('seat', address).catch(() => false),
    give: (address) => channel.tell({ type: 'cluster:seat-free', address }),
  };
}

/** The supervisor's side: the host's counts, and what each process holds (freed when it exits). */
export function hostSeats(total: number, perAddress: number) {
  const seats = new SubscriptionSeats(total, perAddress);
  const held = new Map<number, Map<string, number>>();
  return {
    take(worker: number, address: string): boolean {
      if (!seats.take(address)) return false;
      const own = held.get(worker) ?? new Map<string, number>();
      own.set(address, (own.get(address) ?? 0) + 1);
      held.set(worker, own);
      return true;
    },
    give(worker: number, address: string): void {
      const own = held.get(worker);
      const count = own?.get(address);
      if (!own || count === undefined) return;
      if (count > 1) own.set(address, count - 1);
      else own.delete(address);
      seats.give(address);
    },
    /** A process exited: its streams ended with it. */
    drop(worker: number): void {
      for (const [address, count] of held.get(worker) ?? []) for (let i = 0; i < count; i++) seats.give(address);
      held.delete(worker);
    },
  };
}
