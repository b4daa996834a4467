import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLease } from '../../src/lease/file-lease.ts';
import { LeaseKeeper } from '../../src/lease/keeper.ts';
import { describeLoss, type Lease, type LeaseLoss, type LeaseTimings } from '../../src/lease/lease.ts';
import { ThreadedLeaseKeeper } from '../../src/lease/threaded-keeper.ts';

const silent = pino({ level: 'silent' });
const TIMINGS: LeaseTimings = { ttlMs: 600, renewEveryMs: 120, safetyMarginMs: 120 };
const dir = mkdtempSync(join(tmpdir(), 'reviews-keeper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Polls until `check` holds, at most 10 s. */
async function until(check: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await sleep(10);
  }
}

/**
 * A real file lease whose renewals can be held up, as a disk busy writing gigabytes back holds
 * up a rename: a held renewal reaches the store only once `flow()` is called.
 */
function slowStore() {
  const store = new FileLease(mkdtempSync(join(dir, 'lease-')));
  let held: (() => void)[] | null = null;
  const lease: Lease = {
    location: store.location,
    acquire: (candidate, ttlMs) => store.acquire(candidate, ttlMs),
    regain: (candidate, ttlMs, lastTerm) => store.regain(candidate, ttlMs, lastTerm),
    renew: async (grant, ttlMs) => {
      if (held) await new Promise<void>((go) => held?.push(go));
      return store.renew(grant, ttlMs);
    },
    current: () => store.current(),
    release: (grant) => store.release(grant),
    close: () => store.close(),
  };
  return {
    store,
    lease,
    stall: () => {
      held = [];
    },
    flow: () => {
      for (const go of held ?? []) go();
      held = null;
    },
  };
}

/** A keeper whose renewals stalled past the TTL: lost by its own clock, and expired in the store. */
async function lapsedKeeper() {
  const slow = slowStore();
  const keeper = new LeaseKeeper({ lease: slow.lease, timings: TIMINGS, logger: silent, url: null });
  const lost: LeaseLoss[] = [];
  keeper.onLost((loss) => lost.push(loss));
  expect(await keeper.tryAcquire()).toBe(true);
  const term = keeper.term;
  slow.stall();
  await until(() => lost.length === 1);
  // Renewals answered too late, not refused: the store never said another node had it.
  expect(lost).toEqual([{ kind: 'expired', storeError: null }]);
  expect(keeper.whyNotHeld()).toEqual({ kind: 'expired', storeError: null });
  await until(async () => (await slow.store.current()) === null);
  // The stalled renewals now reach the store, too late: they must not revive the old term.
  slow.flow();
  return { ...slow, keeper, term: term as number, lost };
}

describe('a lease whose renewals a slow store held up past the TTL', () => {
  it('is taken again with a new term when nobody held it since, and kept', async () => {
    const { keeper, term, store, lost } = await lapsedKeeper();
    expect(await keeper.regain()).toBe(true);
    expect(keeper.term).toBe(term + 1);
    expect(keeper.whyNotHeld()).toBeNull();
    expect(keeper.regains.count).toBe(1);
    expect((await store.current())?.holder).toBe(keeper.holder);
    // Renewed again from then on, past several TTLs.
    await sleep(TIMINGS.ttlMs * 3);
    expect(keeper.whyNotHeld()).toBeNull();
    expect(lost).toHaveLength(1);
    await keeper.release();
  });

  it('is not taken again once another node holds it', async () => {
    const { keeper, store } = await lapsedKeeper();
    const other = await store.acquire({ holder: 'another node', url: null }, 30_000);
    expect(other).not.toBeNull();
    expect(await keeper.regain()).toBe(false);
    expect(keeper.whyNotHeld()).toMatchObject({ kind: 'expired' });
    expect((await store.current())?.holder).toBe('another node');
  });

  it('is not taken again when another node held it in between, even though it is free now', async () => {
    const { keeper, store } = await lapsedKeeper();
    const other = await store.acquire({ holder: 'another node', url: null }, 30_000);
    await store.release(other as NonNullable<typeof other>);
    expect(await store.current()).toBeNull();
    expect(await keeper.regain()).toBe(false);
    expect(keeper.whyNotHeld()).toMatchObject({ kind: 'expired' });
  });

  it('is never taken again after it was released on purpose', async () => {
    const { lease } = slowStore();
    const keeper = new LeaseKeeper({ lease, timings: TIMINGS, logger: silent, url: null });
    expect(await keeper.tryAcquire()).toBe(true);
    await keeper.release();
    expect(await keeper.regain()).toBe(false);
    expect(keeper.whyNotHeld()).toEqual({ kind: 'released' });
  });
});

describe('why a lease was lost, by kind', () => {
  /** A store whose renewals all answer `renew`: acquired through a real file lease first. */
  async function keeperRenewingWith(renew: Lease['renew']) {
    const { lease } = slowStore();
    const keeper = new LeaseKeeper({ lease: { ...lease, renew }, timings: TIMINGS, logger: silent, url: null });
    const lost: LeaseLoss[] = [];
    keeper.onLost((loss) => lost.push(loss));
    expect(keeper.whyNotHeld()).toEqual({ kind: 'not-held' });
    expect(await keeper.tryAcquire()).toBe(true);
    await until(() => lost.length > 0);
    return { keeper, lost };
  }

  it('is taken when the store answers that the lease is no longer ours', async () => {
    const { keeper, lost } = await keeperRenewingWith(async () => null);
    expect(lost).toEqual([{ kind: 'taken' }]);
    expect(keeper.whyNotHeld()).toEqual({ kind: 'taken' });
  });

  it('is expired, naming the store, when the store never answered a renewal', async () => {
    const { keeper, lost } = await keeperRenewingWith(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:2379');
    });
    expect(lost).toEqual([{ kind: 'expired', storeError: 'connect ECONNREFUSED 127.0.0.1:2379' }]);
    expect(describeLoss(keeper.whyNotHeld() as LeaseLoss)).toMatch(/did not answer: connect ECONNREFUSED/);
    // Released after the loss: given up on purpose from then on, and the listeners not told twice.
    await keeper.release();
    expect(keeper.whyNotHeld()).toEqual({ kind: 'released' });
    expect(lost).toHaveLength(1);
  });
});

describe('the lease keeper on its own thread', () => {
  it('keeps renewing while the serving thread is blocked past the TTL', async () => {
    const keeper = new ThreadedLeaseKeeper({
      location: { kind: 'file', path: mkdtempSync(join(dir, 'threaded-')) },
      timings: TIMINGS,
      logger: silent,
      url: null,
    });
    const lost: LeaseLoss[] = [];
    keeper.onLost((loss) => lost.push(loss));
    expect(await keeper.tryAcquire()).toBe(true);
    const term = keeper.term;
    // A synchronous stall of this thread (a long SQLite statement, a GC): three TTLs.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, TIMINGS.ttlMs * 3);
    expect(keeper.whyNotHeld()).toBeNull();
    await sleep(TIMINGS.ttlMs);
    expect(keeper.whyNotHeld()).toBeNull();
    expect(keeper.term).toBe(term);
    expect(lost).toEqual([]);
    await keeper.release();
    expect(keeper.whyNotHeld()).toEqual({ kind: 'released' });
    keeper.stop();
  });
});
