import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEtcd, startEtcd } from '../../drill/etcd.ts';
import { EtcdLease } from '../../src/lease/etcd-lease.ts';
import { FileLease } from '../../src/lease/file-lease.ts';
import { LeaseKeeper } from '../../src/lease/keeper.ts';
import { type Lease, type LeaseLoss, leaseLocation, leaseTimings } from '../../src/lease/lease.ts';
import { lacks } from '../support/system-programs.ts';

const silent = pino({ level: 'silent' });
const TTL_MS = 1000;
const a = { holder: 'node-a', url: 'http://127.0.0.1:1' };
const b = { holder: 'node-b', url: 'http://127.0.0.1:2' };

/** Polls until `check` holds, at most 10 s. */
async function until(check: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await sleep(20);
  }
}

let dir: string;
let etcd: RunningEtcd;
let etcdKeys = 0;
const noEtcd = lacks('etcd', 'the etcd lease tests');
const opened: Lease[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reviews-lease-'));
  if (!noEtcd) etcd = await startEtcd();
});

afterAll(async () => {
  for (const lease of opened) await lease.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Two handles on one lease, as two nodes would have. */
const kinds: [string, () => [Lease, Lease]][] = [
  [
    'file',
    () => {
      const path = mkdtempSync(join(dir, 'file-'));
      return [new FileLease(path), new FileLease(path)];
    },
  ],
  [
    'etcd',
    () => {
      const key = `reviews/lease-${++etcdKeys}`;
      return [new EtcdLease(`http://${etcd.address}`, key), new EtcdLease(`http://${etcd.address}`, key)];
    },
  ],
];

describe.each(kinds.filter(([kind]) => kind !== 'etcd' || !noEtcd))('the %s lease', (_kind, open) => {
  const pair = () => {
    const leases = open();
    opened.push(...leases);
    return leases;
  };

  it('goes to exactly one of two contenders at once', async () => {
    const [first, second] = pair();
    const grants = await Promise.all([first.acquire(a, TTL_MS), second.acquire(b, TTL_MS)]);
    expect(grants.filter((grant) => grant !== null)).toHaveLength(1);
    const holder = await first.current();
    expect([a.holder, b.holder]).toContain(holder?.holder);
    expect(await second.current()).toEqual(holder);
  });

  it('passes to another node, with a higher term, only once it ran out; the old holder cannot renew', async () => {
    const [first, second] = pair();
    const grant = await first.acquire(a, TTL_MS);
    expect(grant).not.toBeNull();
    expect(await second.acquire(b, TTL_MS)).toBeNull();
    await until(async () => (await second.current()) === null);
    const taken = await second.acquire(b, TTL_MS);
    expect(taken?.term).toBeGreaterThan(grant?.term ?? Number.POSITIVE_INFINITY);
    expect(await first.renew(grant as NonNullable<typeof grant>, TTL_MS)).toBeNull();
    expect((await first.current())?.holder).toBe(b.holder);
  });

  it('is regained by its last holder only while nobody held it since', async () => {
    const [first, second] = pair();
    const grant = await first.acquire(a, TTL_MS);
    const term = grant?.term as number;
    // Not while it runs, by anyone.
    expect(await first.regain(a, TTL_MS, term)).toBeNull();
    await until(async () => (await first.current()) === null);
    // Ran out with `term` as the last one: its holder takes the next term, nobody else the same.
    const [regained, raced] = await Promise.all([first.regain(a, TTL_MS, term), second.acquire(b, TTL_MS)]);
    expect([regained, raced].filter((won) => won !== null)).toHaveLength(1);
    expect((regained ?? raced)?.term).toBe(term + 1);
    await until(async () => (await first.current()) === null);
    // Term + 1 was granted since: a regain naming `term` is refused although the lease is free.
    expect(await first.regain(a, TTL_MS, term)).toBeNull();
    expect(await first.current()).toBeNull();
  });

  it('is free at once when its holder releases it (planned switchover)', async () => {
    const [first, second] = pair();
    const grant = await first.acquire(a, 30_000);
    await first.release(grant as NonNullable<typeof grant>);
    expect(await second.current()).toBeNull();
    expect(await second.acquire(b, TTL_MS)).not.toBeNull();
  });
});

describe('the lease keeper', () => {
  it('refuses writes before the lease store could let anyone else in, and says so once', async () => {
    const store = new FileLease(mkdtempSync(join(dir, 'keeper-')));
    // Renewals that never answer: the store goes on believing the lease runs until its TTL.
    const stalled: Lease = {
      location: store.location,
      acquire: (candidate, ttlMs) => store.acquire(candidate, ttlMs),
      regain: (candidate, ttlMs, lastTerm) => store.regain(candidate, ttlMs, lastTerm),
      renew: () => new Promise(() => {}),
      current: () => store.current(),
      release: (grant) => store.release(grant),
      close: () => store.close(),
    };
    const keeper = new LeaseKeeper({
      lease: stalled,
      timings: { ttlMs: 1500, renewEveryMs: 300, safetyMarginMs: 300 },
      logger: silent,
      url: null,
    });
    const lost: LeaseLoss[] = [];
    keeper.onLost((loss) => lost.push(loss));
    expect(await keeper.tryAcquire()).toBe(true);
    expect(keeper.whyNotHeld()).toBeNull();
    await until(() => keeper.whyNotHeld() !== null);
    // The moment this node stopped writing, the lease was still its own in the store.
    expect((await store.current())?.holder).toBe(keeper.holder);
    await until(() => lost.length === 1);
    expect(keeper.whyNotHeld()).toEqual({ kind: 'expired', storeError: null });
    // Once lost, never taken up again by tryAcquire (only by regain(), test/unit/lease-keeper.test.ts).
    await until(async () => (await store.current()) === null);
    expect(await keeper.tryAcquire()).toBe(false);
    keeper.stop();
  });

  it('keeps the lease while renewals succeed, past many TTLs', async () => {
    const keeper = new LeaseKeeper({
      lease: new FileLease(mkdtempSync(join(dir, 'renew-'))),
      timings: { ttlMs: 500, renewEveryMs: 100, safetyMarginMs: 100 },
      logger: silent,
      url: null,
    });
    expect(await keeper.tryAcquire()).toBe(true);
    await sleep(1500);
    expect(keeper.whyNotHeld()).toBeNull();
    await keeper.release();
    expect(keeper.whyNotHeld()).toEqual({ kind: 'released' });
  });
});

describe('lease settings', () => {
  it('derives the TTL from the heartbeat, and stops writing a margin before it runs out', () => {
    expect(leaseTimings({ heartbeatIntervalMs: 500, heartbeatMisses: 3 })).toEqual({
      ttlMs: 1500,
      renewEveryMs: 300,
      safetyMarginMs: 300,
    });
  });

  it('reads LEASE_URL, defaults to a lease beside a directory replica, and has none for S3 alone', () => {
    expect(leaseLocation({ leaseUrl: 'etcd://127.0.0.1:2379/reviews/lease', replicaUrl: './data/replica' })).toEqual({
      kind: 'etcd',
      endpoint: 'http://127.0.0.1:2379',
      key: 'reviews/lease',
    });
    expect(leaseLocation({ leaseUrl: 'file:/srv/lease', replicaUrl: 's3://b/p' })).toEqual({
      kind: 'file',
      path: '/srv/lease',
    });
    expect(leaseLocation({ leaseUrl: undefined, replicaUrl: '/srv/data/replica' })).toEqual({
      kind: 'file',
      path: '/srv/data/replica.lease',
    });
    expect(leaseLocation({ leaseUrl: undefined, replicaUrl: 's3://bucket/reviews' })).toBeNull();
  });
});
