import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { FencedNode, type NodeParts, type PrimaryRole, type StandbyRole } from '../../src/failover/node.ts';
import { fencedPrimary } from '../../src/failover/roles.ts';
import type { Tenure } from '../../src/lease/keeper.ts';
import type { LeaseLoss, LeaseRecord } from '../../src/lease/lease.ts';

/**
 * Each change of a fenced node's state, driven without a process, a socket or a timing seam.
 * Fakes, by design of this unit test: an in-memory lease store and its keeper (the real ones
 * are tested in test/unit/lease-keeper.test.ts and test/failover/lease.test.ts), and a standby
 * and a primary that only record what the node asks of them (the real ones, with Litestream and
 * SQLite files, in test/failover/). What is real is the node: its table of states, its watching
 * loop, its promotion, deposition, regain and stop.
 */

const silent = pino({ level: 'silent' });
const loaded = loadConfig({ HEARTBEAT_INTERVAL_MS: '50', HEARTBEAT_MISSES: '2', REPLICATION: 'off' });
if (!loaded.ok) throw new Error(loaded.errors.join('; '));
const config = loaded.config;

/** Polls until `check` holds, at most 5 s (the node's loops tick every HEARTBEAT_INTERVAL_MS). */
async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not reached within 5 s: ${what}`);
    await sleep(5);
  }
}

/** The lease store every node of a test shares: who holds it, and the last term granted. */
class FakeStore {
  record: LeaseRecord | null = null;
  term = 0;

  /** The lease runs out with nobody to renew it. */
  free() {
    this.record = null;
  }

  /** Another node takes the lease (it ran out for this one). */
  takenByAnother() {
    this.term += 1;
    this.record = { holder: 'another node', url: null, term: this.term };
  }
}

/** A keeper of one attempt at the lease in a FakeStore; `lose` is what its renewals would find. */
class FakeTenure implements Tenure {
  readonly holder: string;
  readonly location = 'memory:';
  readonly regains = { count: 0, lastAt: null };
  term: number | null = null;
  stopped = false;
  #loss: LeaseLoss | null = { kind: 'not-held' };
  #listeners: ((loss: LeaseLoss) => void)[] = [];

  constructor(
    private readonly store: FakeStore,
    readonly url: string,
    index: number,
  ) {
    this.holder = `this node #${index}`;
  }

  whyNotHeld() {
    return this.#loss;
  }

  onLost(listener: (loss: LeaseLoss) => void) {
    this.#listeners.push(listener);
  }

  async current() {
    return this.store.record;
  }

  async tryAcquire() {
    if (this.store.record || this.#loss?.kind !== 'not-held') return false;
    this.#take();
    return true;
  }

  async regain() {
    if (this.store.record || this.#loss?.kind !== 'expired' || this.store.term !== this.term) return false;
    this.#take();
    return true;
  }

  async release() {
    if (this.#loss === null && this.store.record?.holder === this.holder) this.store.record = null;
    this.#loss = { kind: 'released' };
  }

  stop() {
    this.stopped = true;
  }

  /** The lease runs out under this keeper: the store forgets it, the listeners are told. */
  lapse() {
    this.#loss = { kind: 'expired', storeError: null };
    if (this.store.record?.holder === this.holder) this.store.record = null;
    for (const listener of this.#listeners) listener(this.#loss);
  }

  #take() {
    this.store.term += 1;
    this.term = this.store.term;
    this.store.record = { holder: this.holder, url: this.url, term: this.term };
    this.#loss = null;
  }
}

/** A request and its response as node:http makes them, on a socket that never connects. */
function exchange(method: string): [IncomingMessage, ServerResponse] {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = '/graphql?query=%7Bviewer%7Bid%7D%7D';
  return [req, new ServerResponse(req)];
}

/** A promise and its resolver, for a step the test finishes when it wants. */
function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** What the node did with its parts, in order. */
type Event = string;

function fakeStandby(events: Event[], index: number): StandbyRole {
  const name = `standby ${index}`;
  return {
    app: { handle: () => events.push(`${name} answered`) },
    reads: { lagMs: () => 0, waitFor: async () => true },
    follower: null,
    pause: async () => void events.push(`${name} paused`),
    resume: () => void events.push(`${name} resumed`),
    handOver: async () => void events.push(`${name} handed over`),
    close: async () => void events.push(`${name} closed`),
    checkReplica: async () => {},
  };
}

function fakePrimary(
  events: Event[],
  name: string,
  stopped: Promise<void> = Promise.resolve(),
  replicating: Promise<void> = Promise.resolve(),
): PrimaryRole {
  return {
    app: { handle: () => events.push(`${name} answered`) },
    positions: { named: async () => {}, stamp: () => {} },
    stopReplication: async () => {
      events.push(`${name} stopped replicating`);
      await stopped;
    },
    replicateAgain: async () => {
      events.push(`${name} replicates again`);
      await replicating;
      return fakePrimary(events, `${name} again`);
    },
    close: async ({ shipFirst }) => void events.push(`${name} closed${shipFirst ? ', last frames shipped' : ''}`),
  };
}

/** Stops the node while `step` is under way, then lets the step finish: the stop waits for it. */
async function stopDuring(node: FencedNode, stop: () => Promise<void>, step: ReturnType<typeof deferred>) {
  const stopped = stop();
  expect(node.kind).toBe('stopping');
  step.resolve();
  await stopped;
  expect(node.kind).toBe('stopped');
}

type TakeOver = (tenure: FakeTenure) => Promise<PrimaryRole>;

function harness({ primaryUrl = null }: { primaryUrl?: string | null } = {}) {
  const store = new FakeStore();
  const events: Event[] = [];
  const tenures: FakeTenure[] = [];
  let standbys = 0;
  let primaries = 0;
  /** What each takeover does, in turn; past the list, one that succeeds. */
  const takeOvers: TakeOver[] = [];
  const parts: NodeParts = {
    tenure: (url) => {
      const tenure = new FakeTenure(store, url, tenures.length);
      tenures.push(tenure);
      return tenure;
    },
    standBy: async () => fakeStandby(events, standbys++),
    takeOver: async (tenure) => {
      const name = `primary ${primaries++}`;
      events.push(`${name} taking over`);
      const next = takeOvers.shift();
      return next ? next(tenure as FakeTenure) : fakePrimary(events, name);
    },
  };
  const node = new FencedNode(config, silent, parts, { url: 'http://this-node', primaryUrl });
  const stop = () => node.stop(async () => void events.push('http closed'));
  running.push(stop);
  return { node, store, events, tenures, takeOvers, stop, latest: () => tenures.at(-1) as FakeTenure };
}

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

describe('a fenced node, state by state', () => {
  it('serve on a free lease: starting → promoting → primary, before it says listening', async () => {
    const { node, events, store, latest } = harness();
    expect(node.kind).toBe('starting');
    await node.start();
    expect(node.kind).toBe('primary');
    expect(events).toEqual(['primary 0 taking over']);
    expect(store.record?.holder).toBe(latest().holder);
  });

  it('a held lease: starting → standby, and standby → promoting → primary once the lease is free', async () => {
    const { node, events, store, tenures } = harness();
    store.takenByAnother();
    await node.start();
    expect(node.kind).toBe('standby');
    expect(events).toEqual([]);
    store.free();
    await until(() => node.kind === 'primary', 'promoted');
    // The standby stops following before the takeover writes its file, and hands it over after.
    expect(events).toEqual(['standby 0 paused', 'primary 0 taking over', 'standby 0 handed over']);
    expect(store.record?.holder).toBe(tenures[0]?.holder);
  });

  it('a failed takeover: promoting → standby, the lease given back, a new keeper for the next try', async () => {
    const { node, events, store, tenures, takeOvers } = harness();
    store.takenByAnother();
    await node.start();
    takeOvers.push(async () => {
      throw new Error('restore failed');
    });
    store.free();
    await until(() => events.includes('standby 0 resumed'), 'the promotion to fail');
    expect(node.kind).toBe('standby');
    expect(events).toEqual(['standby 0 paused', 'primary 0 taking over', 'standby 0 resumed']);
    expect(tenures[0]?.whyNotHeld()).toEqual({ kind: 'released' });
    expect(tenures[0]?.stopped).toBe(true);
    // The next attempt (after the back-off) is made with a keeper of its own, and succeeds.
    await until(() => node.kind === 'primary', 'the next attempt');
    expect(tenures).toHaveLength(2);
    expect(store.record?.holder).toBe(tenures[1]?.holder);
  });

  it('the lease lost during the takeover: what was started is closed, and it stands by again', async () => {
    const { node, events, store, tenures, takeOvers } = harness();
    store.takenByAnother();
    await node.start();
    takeOvers.push(async (tenure) => {
      tenure.lapse();
      store.takenByAnother();
      return fakePrimary(events, 'primary 0');
    });
    store.free();
    await until(() => events.includes('standby 0 resumed'), 'the promotion to be abandoned');
    expect(node.kind).toBe('standby');
    // Never primary: closed without shipping anything, before the standby follows again.
    expect(events).toEqual(['standby 0 paused', 'primary 0 taking over', 'primary 0 closed', 'standby 0 resumed']);
    expect(store.record?.holder).toBe('another node');
    expect(tenures[0]?.stopped).toBe(true);
  });

  it('primary → deposed when its lease lapses, → primary again when nobody took it meanwhile', async () => {
    const { node, events, latest, takeOvers } = harness();
    const replicationStopped = deferred();
    takeOvers.push(async () => fakePrimary(events, 'primary 0', replicationStopped.promise));
    await node.start();
    const tenure = latest();
    tenure.lapse();
    // Deposed at once, and its Litestream stopped before the lease is asked for again.
    expect(node.kind).toBe('deposed');
    expect(events).toEqual(['primary 0 taking over', 'primary 0 stopped replicating']);
    await sleep(config.heartbeatIntervalMs);
    expect(node.kind).toBe('deposed');
    replicationStopped.resolve();
    await until(() => node.kind === 'primary', 'the lease regained');
    expect(events.slice(2)).toEqual(['primary 0 replicates again']);
    expect(tenure.whyNotHeld()).toBeNull();
    // Deposed again by the next lapse: the same keeper still tells the node.
    tenure.lapse();
    expect(node.kind).toBe('deposed');
    expect(events.at(-1)).toBe('primary 0 again stopped replicating');
  });

  it('deposed → starting → standby when another node took the lease: the lapsed primary closed', async () => {
    const { node, events, store, tenures } = harness();
    await node.start();
    tenures[0]?.lapse();
    store.takenByAnother();
    await until(() => node.kind === 'standby', 'standing by for the other node');
    expect(events).toEqual(['primary 0 taking over', 'primary 0 stopped replicating', 'primary 0 closed']);
    expect(tenures[0]?.stopped).toBe(true);
    expect(tenures).toHaveLength(2);
    // A standby again: it answers reads from its followed data.
    node.handle(...exchange('GET'));
    await until(() => events.at(-1) === 'standby 0 answered', 'a read answered by the standby');
  });

  it('stopping a primary: HTTP, then the database and Litestream (last frames shipped), then the lease', async () => {
    const { node, events, store, stop, latest } = harness();
    await node.start();
    await stop();
    expect(node.kind).toBe('stopped');
    expect(events).toEqual(['primary 0 taking over', 'http closed', 'primary 0 closed, last frames shipped']);
    expect(store.record).toBeNull();
    expect(latest().whyNotHeld()).toEqual({ kind: 'released' });
    expect(latest().stopped).toBe(true);
  });

  it('stopping a deposed primary gives nothing back: the lease is not its own', async () => {
    const { node, events, store, stop, latest } = harness();
    await node.start();
    latest().lapse();
    store.takenByAnother();
    const held = store.record;
    node.stopping();
    expect(node.kind).toBe('stopping');
    await stop();
    expect(events).toEqual([
      'primary 0 taking over',
      'primary 0 stopped replicating',
      'http closed',
      'primary 0 closed, last frames shipped',
    ]);
    expect(store.record).toBe(held);
  });

  it('stopping during a promotion: the takeover finishes as primary, then stops and hands the lease back', async () => {
    const { node, events, store, takeOvers, stop } = harness();
    store.takenByAnother();
    await node.start();
    const takingOver = deferred();
    takeOvers.push(async () => {
      await takingOver.promise;
      return fakePrimary(events, 'primary 0');
    });
    store.free();
    await until(() => events.includes('primary 0 taking over'), 'the takeover to begin');
    await stopDuring(node, stop, takingOver);
    expect(events).toEqual([
      'standby 0 paused',
      'primary 0 taking over',
      'standby 0 handed over',
      'http closed',
      'primary 0 closed, last frames shipped',
    ]);
    expect(store.record).toBeNull();
  });

  it('stopping while a regained lease starts Litestream again: that primary is stopped, and the lease given back', async () => {
    const { node, events, store, takeOvers, stop, latest } = harness();
    const replicating = deferred();
    takeOvers.push(async () => fakePrimary(events, 'primary 0', Promise.resolve(), replicating.promise));
    await node.start();
    latest().lapse();
    await until(() => events.includes('primary 0 replicates again'), 'the lease regained');
    await stopDuring(node, stop, replicating);
    expect(events).toEqual([
      'primary 0 taking over',
      'primary 0 stopped replicating',
      'primary 0 replicates again',
      'http closed',
      'primary 0 again closed, last frames shipped',
    ]);
    expect(store.record).toBeNull();
    expect(latest().whyNotHeld()).toEqual({ kind: 'released' });
  });

  it('stopping a standby closes its followed files after HTTP and never promotes', async () => {
    const { node, events, store, stop } = harness();
    store.takenByAnother();
    await node.start();
    node.stopping();
    store.free();
    await stop();
    expect(events).toEqual(['http closed', 'standby 0 closed']);
    expect(store.record).toBeNull();
    // Stopped: every request is refused READ_ONLY.
    const [req, res] = exchange('GET');
    node.handle(req, res);
    expect(res.statusCode).toBe(503);
    expect(events.at(-1)).toBe('standby 0 closed');
  });
});

describe('what /ready says of the lease', () => {
  it('names why it is not held by kind, and in words, and the node deposed by its own state', () => {
    const store = new FakeStore();
    const tenure = new FakeTenure(store, 'http://this-node', 0);
    let deposed = false;
    const replication = { whyReadOnly: () => null, describe: () => ({}) };
    const node = fencedPrimary(
      tenure,
      replication,
      () => deposed,
      () => ({}),
    );
    expect(node.describe()).toMatchObject({
      role: 'primary',
      lease: { held: false, whyNot: { kind: 'not-held', message: 'lease not held' } },
    });
    void tenure.tryAcquire();
    expect(node.describe()).toMatchObject({ lease: { held: true, whyNot: null } });
    expect(node.whyReadOnly()).toBeNull();
    tenure.lapse();
    deposed = true;
    expect(node.describe()).toMatchObject({
      role: 'deposed',
      lease: {
        held: false,
        whyNot: { kind: 'expired', storeError: null, message: 'lease lost: it expired before a renewal succeeded' },
      },
    });
    expect(node.whyReadOnly()).toBe('lease lost: it expired before a renewal succeeded');
    expect(node.whyNotReady?.()).toBe('deposed: lease lost: it expired before a renewal succeeded');
  });
});
