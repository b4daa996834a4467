import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEtcd, startEtcd } from '../../drill/etcd.ts';
import { type NodeProcess, startNode } from '../../drill/node-process.ts';
import { freePort } from '../../drill/ports.ts';
import { FileLease } from '../../src/lease/file-lease.ts';
import {
  createReview,
  eventually,
  gql,
  rowsOf,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  tokenFor,
} from '../replication/support.ts';
import { runCli } from '../support/process.ts';
import { lacks } from '../support/system-programs.ts';

/**
 * A primary (`serve`) and a standby (`standby --primary URL`) as real processes, with Litestream
 * replicating to a real S3-compatible server and a real lease (file, or etcd), on loopback.
 * Heartbeat 200 ms × 3 and a 250 ms sync interval keep each failover within a second or two.
 */

const s3 = s3ForThisFile();
let etcd: RunningEtcd;
const noEtcd = lacks('etcd', 'the failover test over an etcd lease');
const itWithEtcd = it.skipIf(noEtcd);
const started: NodeProcess[] = [];
const sandboxes: Sandbox[] = [];

beforeAll(async () => {
  if (!noEtcd) etcd = await startEtcd();
});

afterEach(async () => {
  for (const node of started.splice(0)) await node.stop('SIGKILL');
  for (const box of sandboxes.splice(0)) box.cleanup();
});

afterAll(() => etcd?.stop());

interface Cluster {
  box: Sandbox;
  /** Starts `serve` (no primary) or `standby --primary`, as node `name`, on its own port. */
  launch(name: string, primaryUrl?: string, env?: Record<string, string>): Promise<NodeProcess>;
}

async function cluster(lease: 'file' | 'etcd', replica: 'directory' | 's3' = 's3'): Promise<Cluster> {
  const box = sandbox(replica, s3, {
    HEARTBEAT_INTERVAL_MS: '200',
    HEARTBEAT_MISSES: '3',
    REPLICA_SYNC_INTERVAL: '250ms',
  });
  sandboxes.push(box);
  box.env.LEASE_URL =
    lease === 'etcd' ? `etcd://${etcd.address}/reviews/${box.dir.split('/').pop()}` : `file:${join(box.dir, 'lease')}`;
  const ports = new Map<string, number>();
  return {
    box,
    async launch(name, primaryUrl, env = {}) {
      mkdirSync(join(box.dir, name), { recursive: true });
      const port = ports.get(name) ?? (await freePort());
      ports.set(name, port);
      const node = await startNode({
        name,
        port,
        primaryUrl,
        logFile: join(box.dir, `${name}.log`),
        env: { ...box.env, DATABASE_PATH: join(box.dir, name, 'reviews.db'), ...env },
      });
      started.push(node);
      return node;
    },
  };
}

interface Ready {
  role: string;
  promotions?: { attempts: number; failed: number; last: { outcome: string; error: string | null } | null };
  writable: boolean;
  primary?: string;
  lease: { term: number | null; held: boolean };
  replication?: { litestream: { status: string }; lagBytes?: number | null; sampledAt: string };
}

const readyOf = async (node: NodeProcess) => (await (await fetch(`${node.url}/ready`)).json()) as Ready;

/** A createReview straight to a node: its HTTP status and error code (null when it wrote). */
async function tryWrite(node: NodeProcess, token: string, subject: string) {
  const response = await fetch(`${node.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }',
      variables: { input: { subject, rating: 5, title: subject, body: subject } },
    }),
  });
  const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
  return { status: response.status, code: body.errors?.[0]?.extensions?.code ?? null };
}

/**
 * Waits until the primary reports every committed write in the replica, in a sample taken after
 * the call: /ready answers with the monitor's last sample, which may predate the last write.
 */
const replicatedOn = (node: NodeProcess) => {
  const since = Date.now();
  return eventually(
    async () => {
      const { replication } = await readyOf(node);
      return replication?.lagBytes === 0 && Date.parse(replication.sampledAt) > since ? true : undefined;
    },
    15_000,
    'replication',
  );
};

describe('automatic failover', () => {
  it('promotes the standby when the primary is killed: lease, newest data, integrity, replication', async () => {
    const { launch } = await cluster('file');
    const token = await tokenFor('alice');
    const primary = await launch('a');
    const standby = await launch('b', primary.url);
    await createReview(primary.url, token, 'before the crash');
    await replicatedOn(primary);
    // Every node serves: a write through the standby is the primary's, forwarded.
    expect(await tryWrite(standby, token, 'through the standby')).toEqual({ status: 200, code: null });
    await replicatedOn(primary);
    expect(await readyOf(standby)).toMatchObject({ role: 'standby', writable: false, primary: primary.url });

    primary.signal('SIGKILL');
    const promoted = await standby.waitForLog('promoted: this node is the primary', 30_000);
    // The standby followed the replica into its DATABASE_PATH: no restore on the way to primary.
    expect(Object.keys(promoted.steps as object)).toEqual(
      expect.arrayContaining(['apply the new WAL', 'start replication']),
    );
    expect(Object.keys(promoted.steps as object)).not.toContain('restore and integrity check');
    await eventually(async () => ((await readyOf(standby)).writable ? true : undefined), 10_000, 'writable');
    expect(await readyOf(standby)).toMatchObject({ role: 'primary', lease: { term: 2, held: true } });
    const reviews = await gql(standby.url, '{ reviews(first: 10, orderBy: OLDEST) { nodes { subject } } }', {});
    expect(reviews.data.reviews.nodes).toEqual([{ subject: 'before the crash' }, { subject: 'through the standby' }]);
    expect(await tryWrite(standby, token, 'after the failover')).toEqual({ status: 200, code: null });
  });

  it('keeps a killed primary that comes back as a standby of the new one, then hands back on SIGTERM', {
    timeout: 60_000,
  }, async () => {
    const { launch, box } = await cluster('file');
    const token = await tokenFor('bob');
    const first = await launch('a');
    const second = await launch('b', first.url);
    first.signal('SIGKILL');
    await second.waitForLog('promoted: this node is the primary', 30_000);
    await eventually(async () => ((await readyOf(second)).writable ? true : undefined), 10_000, 'writable');
    await createReview(second.url, token, 'written on b');

    // The old primary restarts with its old file and finds the lease held by b.
    const zombie = await launch('a');
    expect(await readyOf(zombie)).toMatchObject({ role: 'standby', writable: false, primary: second.url });
    // A write through it is forwarded to b, the lease holder.
    expect(await tryWrite(zombie, token, 'through the old primary')).toEqual({ status: 200, code: null });
    expect(await tryWrite(second, token, 'still on b')).toEqual({ status: 200, code: null });
    await replicatedOn(second);

    // Planned switchover: b ships its last frames, gives the lease up, and a takes over.
    await second.stop('SIGTERM');
    await zombie.waitForLog('promoted: this node is the primary', 30_000);
    await eventually(async () => ((await readyOf(zombie)).writable ? true : undefined), 10_000, 'writable');
    await zombie.stop('SIGTERM');
    const subjects = rowsOf(join(box.dir, 'a', 'reviews.db')).reviews.map(
      (row) => (row as { subject: string }).subject,
    );
    expect(subjects.sort()).toEqual(['still on b', 'through the old primary', 'written on b']);
  });

  itWithEtcd(
    'never has two writable nodes: a frozen primary wakes up deposed, follows the new one, and restores skip its generation',
    async () => {
      const { launch, box } = await cluster('etcd');
      const token = await tokenFor('carol');
      const frozen = await launch('a');
      const standby = await launch('b', frozen.url);
      await createReview(frozen.url, token, 'before the freeze');
      await replicatedOn(frozen);

      frozen.signal('SIGSTOP');
      await standby.waitForLog('promoted: this node is the primary', 30_000);
      await eventually(async () => ((await readyOf(standby)).writable ? true : undefined), 10_000, 'writable');
      await createReview(standby.url, token, 'on the new primary');

      frozen.signal('SIGCONT');
      // Its very first request after waking, before any of its timers ran: refused.
      expect(await tryWrite(frozen, token, 'on the zombie')).toEqual({ status: 503, code: 'READ_ONLY' });
      // Deposed, it finds the lease another node's and follows that node: a standby again.
      await frozen.waitForLog('lease taken by another node: following it', 15_000);
      const following = await eventually(
        async () => {
          const state = await readyOf(frozen);
          return state.role === 'standby' && state.primary === standby.url ? state : undefined;
        },
        30_000,
        'the deposed primary to stand by for the new one',
      );
      expect(following).toMatchObject({ writable: false });
      for (let probe = 0; probe < 10; probe++) {
        const [old, current] = await Promise.all([readyOf(frozen), readyOf(standby)]);
        expect([old.writable, current.writable]).toEqual([false, true]);
      }
      // It serves reads of the new primary's data, and hands writes to it.
      await eventually(
        async () => {
          const reviews = await gql(frozen.url, '{ reviews(first: 10) { nodes { subject } } }', {});
          return reviews.data?.reviews.nodes.length === 2 ? true : undefined;
        },
        15_000,
        "the old primary to read the new one's data",
      );
      expect(await tryWrite(frozen, token, 'through the old primary')).toEqual({ status: 200, code: null });
      await replicatedOn(standby);

      // The newest copy in the replica is the new primary's, whatever the old one shipped last.
      const restored = join(box.dir, 'restored.db');
      const restore = await runCli(['restore', '--output', restored], { ...box.env, LOG_LEVEL: 'silent' });
      expect(restore.code, restore.stderr).toBe(0);
      const subjects = rowsOf(restored).reviews.map((row) => (row as { subject: string }).subject);
      expect(subjects.sort()).toEqual(['before the freeze', 'on the new primary', 'through the old primary']);
    },
  );
});

/**
 * Promotion on a database whose steps take as long as a multi-GB one's: RESTORE_CHECK_EXTRA_MS
 * makes every off-loop database step (a check's thread, a WAL apply) last that much longer than
 * the real one (the lease TTL here is 1 s).
 */
const SLOW_STEPS = { RESTORE_CHECK_EXTRA_MS: '4000' };

/**
 * Kills the primary with a write the standby has not applied yet: frozen while the write
 * replicates, the standby wakes to find the primary gone and WAL to apply, which its follower
 * starts before the promotion and the promotion waits for.
 */
async function killWithWalToApply(primary: NodeProcess, standby: NodeProcess, token: string) {
  standby.signal('SIGSTOP');
  await createReview(primary.url, token, 'not yet applied');
  await replicatedOn(primary);
  primary.signal('SIGKILL');
  standby.signal('SIGCONT');
}

describe('a primary whose lease lapsed while nobody else wanted it', () => {
  it('takes it again with a new term and replicates again: a stall costs one term, not the service', async () => {
    const { launch, box } = await cluster('file', 'directory');
    const token = await tokenFor('erin');
    const primary = await launch('a');
    await createReview(primary.url, token, 'before the stall');
    const before = await readyOf(primary);
    // Stalled past its lease (TTL 1 s here), with no standby to take over.
    primary.signal('SIGSTOP');
    await new Promise((done) => setTimeout(done, 2500));
    primary.signal('SIGCONT');
    await primary.waitForLog('lease lost: writes refused from now on', 10_000);
    const after = await eventually(
      async () => {
        const state = await readyOf(primary);
        return state.writable ? state : undefined;
      },
      30_000,
      'the primary to write again',
    );
    expect(after.lease.term).toBe((before.lease.term as number) + 1);
    await primary.waitForLog('lease regained: nobody held it since it lapsed', 1000);
    const metrics = await (await fetch(`${primary.url}/metrics`)).text();
    expect(metrics).toMatch(/reviews_api_node_figure\{key="lease\.regains\.count"\} 1\b/);
    await createReview(primary.url, token, 'after the stall');
    await replicatedOn(primary);
    await primary.stop('SIGTERM');
    // Both writes are in the replica: Litestream replicates again under the new term.
    const restored = join(box.dir, 'restored.db');
    const restore = await runCli(['restore', '--output', restored], { ...box.env, LOG_LEVEL: 'silent' });
    expect(restore.code, restore.stderr).toBe(0);
    const subjects = rowsOf(restored).reviews.map((row) => (row as { subject: string }).subject);
    expect(subjects.sort()).toEqual(['after the stall', 'before the stall']);
  });
});

describe('promotion with a step that takes several lease TTLs', () => {
  it('completes and keeps its term: the lease is renewed while the WAL is applied', {
    timeout: 60_000,
  }, async () => {
    const { launch } = await cluster('file');
    const token = await tokenFor('dave');
    const primary = await launch('a');
    await createReview(primary.url, token, 'before the crash');
    const standby = await launch('b', primary.url, SLOW_STEPS);
    await killWithWalToApply(primary, standby, token);
    const promoted = await standby.waitForLog('promoted: this node is the primary', 30_000);
    // Begun at most a few heartbeats before the promotion (which waits for it to finish) or by
    // the promotion itself, the 4 s apply outlasts two TTLs in it.
    const steps = promoted.steps as Record<string, number>;
    expect((steps['finish following'] ?? 0) + (steps['apply the new WAL'] ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(standby.logs.filter((entry) => entry.msg === 'lease lost: writes refused from now on')).toEqual([]);
    await eventually(async () => ((await readyOf(standby)).writable ? true : undefined), 10_000, 'writable');
    expect(await readyOf(standby)).toMatchObject({
      role: 'primary',
      lease: { term: 2, held: true },
      promotions: { attempts: 1, failed: 0, last: { outcome: 'promoted' } },
    });
    expect(await tryWrite(standby, token, 'after the failover')).toEqual({ status: 200, code: null });
  });

  it('still aborts when another node takes the lease during that step', { timeout: 60_000 }, async () => {
    const { launch, box } = await cluster('file');
    const token = await tokenFor('dave');
    const primary = await launch('a');
    const standby = await launch('b', primary.url, SLOW_STEPS);
    await killWithWalToApply(primary, standby, token);
    const promoting = await standby.waitForLog('promoting: this node takes over as primary', 30_000);
    // Frozen mid-apply until its lease has run out and another contender has taken term 3.
    standby.signal('SIGSTOP');
    const other = new FileLease(join(box.dir, 'lease'));
    const taken = await eventually(
      async () => (await other.acquire({ holder: 'another node', url: null }, 60_000)) ?? undefined,
      15_000,
      'the lease to expire and be taken',
    );
    expect(taken.term).toBe(3);
    standby.signal('SIGCONT');
    const failed = await standby.waitForLog('promotion failed: standing by again', 30_000, promoting.time);
    // Woken past its deadline: lost by its own clock, or told by the store, whichever came first.
    expect(['expired', 'taken']).toContain(failed.leaseLoss);
    const state = await readyOf(standby);
    expect(state).toMatchObject({ role: 'standby', writable: false, promotions: { attempts: 1, failed: 1 } });
    expect(standby.logs.some((entry) => entry.msg === 'promoted: this node is the primary')).toBe(false);
  });
});

describe('a standby following the replica', () => {
  it('applies only the WAL since its last catch-up when it promotes: no restore, no page check', {
    timeout: 60_000,
  }, async () => {
    const { launch } = await cluster('file');
    const token = await tokenFor('erin');
    const primary = await launch('a');
    await createReview(primary.url, token, 'before the standby');
    await replicatedOn(primary);
    const standby = await launch('b', primary.url);
    expect(standby.logs.filter((entry) => entry.msg === 'restored the database from the replica')).toHaveLength(1);
    await createReview(primary.url, token, 'after the standby started');
    await replicatedOn(primary);
    // Followed while the primary lives: /ready shows the segments applied since the restore.
    const followed = await eventually(
      async () => {
        const { reads } = (await readyOf(standby)) as unknown as { reads: { followed: { segments: number } } };
        return reads.followed.segments > 0 ? reads.followed : undefined;
      },
      15_000,
      'the standby to apply a segment',
    );
    expect(followed).toMatchObject({ restores: 1, generation: expect.stringMatching(/^[0-9a-f]{16}$/) });

    await killWithWalToApply(primary, standby, token);
    const promoted = await standby.waitForLog('promoted: this node is the primary', 30_000);
    expect(standby.logs.filter((entry) => entry.msg === 'restored the database from the replica')).toHaveLength(1);
    expect(Object.keys(promoted.steps as object)).not.toContain('restore: quick_check');
    const reviews = await gql(standby.url, '{ reviews(first: 10) { nodes { subject } } }', {});
    expect(reviews.data.reviews.nodes.map((node: { subject: string }) => node.subject).sort()).toEqual([
      'after the standby started',
      'before the standby',
      'not yet applied',
    ]);
  });

  it('starts following once the replica has a generation, when it started before there was one', {
    timeout: 60_000,
  }, async () => {
    const { box, launch } = await cluster('file', 'directory');
    const token = await tokenFor('frank');
    const primary = await launch('a');
    await createReview(primary.url, token, 'before the standby');
    await replicatedOn(primary);
    // The standby finds the replica empty (a primary's first snapshot still uploading, at size).
    const generations = join(box.dir, 'replica', 'generations');
    renameSync(generations, `${generations}.hidden`);
    const standby = await launch('b', primary.url);
    renameSync(`${generations}.hidden`, generations);
    const followedOf = async () =>
      ((await readyOf(standby)) as unknown as { reads: { followed: unknown } }).reads.followed;
    expect(await followedOf()).toBeNull();

    const followed = await eventually(
      async () => (await followedOf()) ?? undefined,
      15_000,
      'the standby to follow the replica',
    );
    expect(followed).toMatchObject({ restores: 1, generation: expect.stringMatching(/^[0-9a-f]{16}$/) });
    await killWithWalToApply(primary, standby, token);
    const promoted = await standby.waitForLog('promoted: this node is the primary', 30_000);
    // The followed file was brought to the head: no whole restore on the promotion's path.
    expect(Object.keys(promoted.steps as object)).toContain('apply the new WAL');
    expect(Object.keys(promoted.steps as object)).not.toContain('restore: quick_check');
    const reviews = await gql(standby.url, '{ reviews(first: 10) { nodes { subject } } }', {});
    expect(reviews.data.reviews.nodes.map((node: { subject: string }) => node.subject).sort()).toEqual([
      'before the standby',
      'not yet applied',
    ]);
  });
});
