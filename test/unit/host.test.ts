import { EventEmitter } from 'node:events';
import { createInMemoryCache } from '@graphql-yoga/plugin-response-cache';
import { describe, expect, it } from 'vitest';
import { ClusterHost } from '../../src/cluster/cluster-host.ts';
import { SupervisorChannel } from '../../src/cluster/ipc.ts';
import type { ToSupervisor, ToWorker } from '../../src/cluster/messages.ts';
import type { NodeState } from '../../src/context.ts';
import type { Db } from '../../src/db/client.ts';
import type { ServedFile } from '../../src/host/host.ts';
import { singleProcess } from '../../src/host/single-process.ts';

const limits = { maxSubscriptions: 3, maxSubscriptionsPerAddress: 2 };

/** The next turn of the event loop: what was batched per turn has been sent. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A worker's end of the IPC channel with the test as its supervisor: what the host sends is
 * kept in `sent`, and `deliver` hands it a message as the supervisor would.
 */
class SupervisorEnd extends EventEmitter {
  connected = true;
  readonly sent: ToSupervisor[] = [];
  send(message: ToSupervisor) {
    this.sent.push(message);
    return true;
  }
  deliver(message: ToWorker) {
    this.emit('message', message);
  }
  /** The one question asked so far, answered with `fields`. */
  answer(fields: Partial<Extract<ToWorker, { type: 'cluster:answer' }>>) {
    const asked = this.sent.filter((message) => message.type === 'cluster:ask');
    const question = asked.at(-1);
    if (!question || question.type !== 'cluster:ask') throw new Error('nothing asked');
    this.deliver({ type: 'cluster:answer', id: question.id, ...fields });
  }
}

function clusterHost(role: 'writer' | 'reader') {
  const port = new SupervisorEnd();
  return { port, host: new ClusterHost(role, '/nonexistent/writer.sock', new SupervisorChannel(port)) };
}

const heard = (target: EventTarget, type: string) => {
  const details: unknown[] = [];
  target.addEventListener(type, (event) => details.push((event as CustomEvent).detail));
  return details;
};

describe('the single-process host (WORKERS=1, and every app a test builds)', () => {
  it('gives each app its own events, and its cache and handler as they are', async () => {
    const first = singleProcess.reviewEvents();
    const second = singleProcess.reviewEvents();
    const heardBySecond = heard(second, 'reviewAdded');
    first.dispatchEvent(new CustomEvent('reviewAdded', { detail: 1 }));
    expect(heardBySecond).toEqual([]);
    const cache = createInMemoryCache();
    expect(singleProcess.responseCache(cache)).toBe(cache);
    const app = () => {};
    const attached = await singleProcess.attach(app, () => '127.0.0.1');
    expect(attached.handler).toBe(app);
    await attached.close();
    expect(singleProcess.fileSharers).toBeUndefined();
  });

  it('bounds subscriptions by MAX_SUBSCRIPTIONS and MAX_SUBSCRIPTIONS_PER_ADDRESS', async () => {
    const seats = singleProcess.subscriptionSeats(limits);
    expect([await seats.take('a'), await seats.take('a'), await seats.take('a')]).toEqual([true, true, false]);
    expect(await seats.take('b')).toBe(true);
    expect(await seats.take('c')).toBe(false);
    seats.give('a');
    expect(await seats.take('c')).toBe(true);
  });
});

describe('a process of a host of several (its messages to and from the supervisor)', () => {
  it('sends the events of one turn in one message, and dispatches those of other processes here only', async () => {
    const { port, host } = clusterHost('reader');
    const events = host.reviewEvents();
    // Every app of the process (a takeover builds another) shares the one target.
    expect(host.reviewEvents()).toBe(events);
    const local = heard(events, 'reviewAdded');
    events.dispatchEvent(new CustomEvent('reviewAdded', { detail: { reviewId: 1 } }));
    events.dispatchEvent(new CustomEvent('reviewAdded', { detail: { reviewId: 2 } }));
    expect(port.sent).toEqual([]);
    await nextTurn();
    expect(port.sent).toEqual([
      {
        type: 'cluster:events',
        events: [
          { name: 'reviewAdded', detail: { reviewId: 1 } },
          { name: 'reviewAdded', detail: { reviewId: 2 } },
        ],
      },
    ]);
    port.deliver({ type: 'cluster:events', events: [{ name: 'reviewAdded', detail: { reviewId: 3 } }] });
    await nextTurn();
    expect(local).toEqual([{ reviewId: 1 }, { reviewId: 2 }, { reviewId: 3 }]);
    expect(port.sent).toHaveLength(1);
  });

  it('drops what a write touched from its own cache and tells the others; drops what they were told', async () => {
    const { port, host } = clusterHost('writer');
    const own = createInMemoryCache();
    const cache = host.responseCache(own);
    await cache.set('q1', { data: {} }, [{ typename: 'Review', id: 1 }], 60_000);
    await cache.set('q2', { data: {} }, [{ typename: 'Comment', id: 7 }], 60_000);
    let done = false;
    const invalidating = Promise.resolve(cache.invalidate([{ typename: 'Review' }])).then(() => {
      done = true;
    });
    expect(await own.get('q1')).toBeNull();
    expect(await own.get('q2')).toEqual({ data: {} });
    expect(port.sent).toEqual([
      expect.objectContaining({ type: 'cluster:ask', question: 'invalidate', entities: [{ typename: 'Review' }] }),
    ]);
    // Done only once the supervisor says every other process dropped it too.
    await nextTurn();
    expect(done).toBe(false);
    port.answer({ granted: true });
    await invalidating;
    port.deliver({ type: 'cluster:invalidate', id: 4, entities: [{ typename: 'Comment', id: 7 }] });
    await nextTurn();
    expect(await own.get('q2')).toBeNull();
    expect(port.sent.at(-1)).toEqual({ type: 'cluster:invalidated', id: 4 });
  });

  it('takes a subscription place only when the supervisor grants it, and refuses when it does not', async () => {
    const { port, host } = clusterHost('reader');
    const seats = host.subscriptionSeats();
    const granted = seats.take('10.0.0.1');
    expect(port.sent.at(-1)).toMatchObject({ type: 'cluster:ask', question: 'seat', address: '10.0.0.1' });
    port.answer({ granted: true });
    expect(await granted).toBe(true);
    const refused = seats.take('10.0.0.1');
    port.answer({ error: 'the supervisor is busy' });
    expect(await refused).toBe(false);
    seats.give('10.0.0.1');
    expect(port.sent.at(-1)).toEqual({ type: 'cluster:seat-free', address: '10.0.0.1' });
  });

  it('a read worker has no writer state: its apps tell nothing, and it shares no file', async () => {
    const { port, host } = clusterHost('reader');
    host.appServed({ $client: { name: '/data/reviews.db' } } as Db, primaryNode);
    expect(host.fileSharers).toBeUndefined();
    await nextTurn();
    expect(port.sent).toEqual([]);
  });

  it('the writer publishes what its read workers serve, and lets a followed file go once they took it', async () => {
    const { port, host } = clusterHost('writer');
    const sharers = host.fileSharers;
    if (!sharers) throw new Error('a writer shares its followed file');
    // A standby's app serves followed files: read workers read the one its reads serve now.
    host.appServed({ $client: { name: ':memory:' } } as Db, standbyNode);
    const reads: { served: ServedFile | null } = { served: file('/data/a.db', 10) };
    sharers.served(reads);
    expect(port.sent).toEqual([
      { type: 'cluster:host-state', state: { reads: 'followed', file: reads.served }, turn: 1 },
    ]);
    // Fresher data of the same file: a new turn, but letting go of the other file needs only turn 1.
    reads.served = file('/data/a.db', 20);
    const letGo = sharers.letGo({ evict: false });
    expect(port.sent.at(-2)).toMatchObject({ type: 'cluster:host-state', turn: 2 });
    expect(port.sent.at(-1)).toMatchObject({ type: 'cluster:ask', question: 'turn-taken', turn: 1, evict: false });
    port.answer({ granted: true });
    await letGo;
    // Taken already: no question asked again for the same file.
    const asked = port.sent.length;
    await sharers.letGo({ evict: false });
    expect(port.sent).toHaveLength(asked);
    // Another file: a worker that did not take it in time fails the round.
    reads.served = file('/data/b.db', 30);
    const notTaken = sharers.letGo({ evict: false });
    expect(port.sent.at(-1)).toMatchObject({ type: 'cluster:ask', question: 'turn-taken', turn: 3 });
    port.answer({ granted: false });
    await expect(notTaken).rejects.toThrow(/did not let go of the followed file/);
  });
});

const primaryNode: NodeState = { whyReadOnly: () => null, describe: () => ({ role: 'primary' }) };
const standbyNode: NodeState = { whyReadOnly: () => 'a standby', describe: () => ({ role: 'standby' }) };

function file(path: string, walBytes: number): ServedFile {
  return { path, position: { generation: 'g1', index: 0, walBytes } as ServedFile['position'], freshAt: 1 };
}
