import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type NodeProcess, startNodeIn } from '../../drill/node-process.ts';
import { POSITION_HEADER } from '../../src/failover/positions.ts';
import { eventually, rowsOf, type Sandbox, sandbox, tokenFor } from '../replication/support.ts';
import { type Answer, send } from '../support/fresh-connection.ts';

/**
 * Every process of a standby serves reads: a primary (`serve`, one process) and a standby
 * (`standby --primary URL`, WORKERS=2: a writer and a read worker sharing its port), real
 * Litestream shipping to a directory every 100 ms, a file lease. Which process answered a read
 * is told by its request log line (a read worker's carry `role: "reader"`), found by the
 * request id the test sends; each request goes on a connection of its own, so the kernel hands
 * it to either process.
 */

const started: NodeProcess[] = [];
const sandboxes: Sandbox[] = [];

afterEach(async () => {
  for (const node of started.splice(0)) await node.stop('SIGKILL');
  for (const box of sandboxes.splice(0)) box.cleanup();
});

/**
 * A primary and a standby of two processes; `standbyEnv` for the standby alone. Unless told,
 * a primary that is gone is not replaced: what the standby answers alone stays its own.
 */
async function primaryAndStandby(
  standbyEnv: (box: Sandbox) => Record<string, string> = () => ({}),
  heartbeatMisses = '1000',
) {
  const box = sandbox('directory', undefined, {
    HEARTBEAT_INTERVAL_MS: '200',
    HEARTBEAT_MISSES: heartbeatMisses,
    REPLICA_SYNC_INTERVAL: '100ms',
    WORKERS: '1',
  });
  sandboxes.push(box);
  box.env.LEASE_URL = `file:${join(box.dir, 'lease')}`;
  const launch = async (name: string, primaryUrl?: string, env: Record<string, string> = {}) => {
    const node = await startNodeIn(box.dir, name, { ...box.env, ...env }, { primaryUrl });
    started.push(node);
    return node;
  };
  const primary = await launch('a');
  const standby = await launch('b', primary.url, { WORKERS: '2', ...standbyEnv(box) });
  await eventually(
    async () => {
      const state = await readyOf(standby);
      const reader = state.processes?.find((entry) => entry.role === 'reader');
      return reader && reader.requestsServed !== null && state.reads.answeredHere ? true : undefined;
    },
    30_000,
    'the standby serving reads with its read worker up',
  );
  return { box, primary, standby };
}

interface StandbyReady {
  reads: { answeredHere: boolean; position: unknown; followed: { files: Record<string, unknown> } | null };
  processes?: { role: string; pid: number; requestsServed: number | null }[];
}
const readyOf = async (node: NodeProcess) => (await (await fetch(`${node.url}/ready`)).json()) as StandbyReady;

let requests = 0;

/** A GraphQL POST on a connection of its own, with a request id of its own (returned). */
async function post(url: string, query: string, headers: Record<string, string> = {}, variables = {}) {
  const id = `standby-workers-${process.pid}-${++requests}`;
  return {
    id,
    ...(await send(url, 'POST', '/graphql', { query, variables }, undefined, { 'x-request-id': id, ...headers })),
  };
}

const CREATE = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }';
const SUBJECTS = '{ reviews(first: 100, orderBy: OLDEST) { totalCount nodes { subject } } }';

async function create(url: string, token: string, subject: string) {
  const written = await post(
    url,
    CREATE,
    { authorization: `Bearer ${token}` },
    {
      input: { subject, rating: 4, title: subject, body: subject },
    },
  );
  expect(written.status).toBe(200);
  return written.headers[POSITION_HEADER] as string;
}

const subjectsOf = (answer: Answer): string[] =>
  answer.body.data.reviews.nodes.map((node: { subject: string }) => node.subject);

/**
 * Which process of `node` answered request `id` itself: its log line, which may reach the test
 * a moment after the answer; null when none came within `waitMs` (the request was handed on).
 */
async function answeredBy(node: NodeProcess, id: string, waitMs = 3000): Promise<'reader' | 'writer' | null> {
  const until = Date.now() + waitMs;
  for (;;) {
    const line = node.logs.find((entry) => entry.msg === 'request' && entry.reqId === id);
    if (line) return line.role === 'reader' ? 'reader' : 'writer';
    if (Date.now() > until) return null;
    await sleep(20);
  }
}

/** Who answered each of `answers` (in order). */
const answerers = (node: NodeProcess, answers: { id: string }[]) =>
  Promise.all(answers.map((answer) => answeredBy(node, answer.id)));

const subject = (i: number) => `s-${String(i).padStart(3, '0')}`;

describe('WORKERS=2 on a standby', () => {
  it('answers reads on both processes, and no read sees half a state while the files swap under load', {
    timeout: 180_000,
  }, async () => {
    const { box, primary, standby } = await primaryAndStandby();
    const token = await tokenFor('writer');
    const WRITES = 90;
    const until = Date.now() + 60_000;
    let written = 0;
    const writing = (async () => {
      // Paced, so that the standby's files take many turns while the reads go on.
      for (; written < WRITES && Date.now() < until; written++) {
        await create(primary.url, token, subject(written));
        await sleep(30);
      }
    })();
    const answers: (Answer & { id: string })[] = [];
    const reading = async () => {
      // Bounded: until the writes are done and the standby answered with every one of them.
      while (Date.now() < until) {
        const answer = await post(standby.url, SUBJECTS);
        answers.push(answer);
        if (written === WRITES && answer.body.data?.reviews.totalCount === WRITES) return;
      }
    };
    await Promise.all([writing, reading(), reading(), reading(), reading()]);
    expect(written).toBe(WRITES);

    // Every answer whole: the writes it holds are the first k, in order, and count k.
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      const seen = subjectsOf(answer);
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => subject(i)));
      expect(answer.body.data.reviews.totalCount).toBe(seen.length);
    }
    const states = (answers: Answer[]) => new Set(answers.map((answer) => subjectsOf(answer).length)).size;
    // The files took turns many times while the reads went on.
    expect(states(answers)).toBeGreaterThanOrEqual(8);
    // Both processes answered reads, each from several states of the data (so across swaps).
    const by = await answerers(standby, answers);
    const byReader = answers.filter((_, i) => by[i] === 'reader');
    const byWriter = answers.filter((_, i) => by[i] === 'writer');
    expect(byReader.length).toBeGreaterThanOrEqual(5);
    expect(byWriter.length).toBeGreaterThanOrEqual(5);
    expect(states(byReader)).toBeGreaterThanOrEqual(3);

    // Both followed files whole once the standby stopped.
    await standby.stop();
    const followed = join(box.dir, 'b', 'reviews.db');
    for (const file of [followed, `${followed}.standby`]) expect(rowsOf(file).integrity).toBe('ok');
  });

  it('answers a read naming a write on the read worker once its file holds it, and hands it on until then', {
    timeout: 180_000,
  }, async () => {
    const { primary, standby } = await primaryAndStandby();
    const token = await tokenFor('ryw');
    const readerServed = async () =>
      (await readyOf(standby)).processes?.find((entry) => entry.role === 'reader')?.requestsServed ?? 0;
    const landedBefore = await readerServed();
    for (let round = 0; round < 6; round++) {
      const position = await create(primary.url, token, subject(round));
      // At once, on connections of their own: whichever process got it, the write is there.
      const reads = await Promise.all(
        Array.from({ length: 4 }, () => post(standby.url, SUBJECTS, { [POSITION_HEADER]: position })),
      );
      for (const read of reads) {
        expect(read.status).toBe(200);
        expect(subjectsOf(read)).toContain(subject(round));
      }
    }
    // Some of those landed on the read worker (each counts where it landed, answered or handed on).
    expect(await readerServed()).toBeGreaterThan(landedBefore + 2);

    // Once the standby holds the last write, a read naming it is answered by the read worker itself.
    const last = await create(primary.url, token, 'last');
    const answers = await eventually(
      async () => {
        const read = await post(standby.url, SUBJECTS, { [POSITION_HEADER]: last });
        expect(subjectsOf(read)).toContain('last');
        return (await answeredBy(standby, read.id)) === 'reader' ? read : undefined;
      },
      30_000,
      'a read naming the write answered by the read worker',
    );
    expect(subjectsOf(answers)).toContain('last');

    // A position header that is no position: 400 wherever it lands.
    for (let i = 0; i < 8; i++) {
      const bad = await post(standby.url, SUBJECTS, { [POSITION_HEADER]: 'yesterday' });
      expect([bad.status, bad.body.errors[0].extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    }
  });

  it('hands reads on from the read worker once the data is older than STANDBY_MAX_LAG', {
    timeout: 180_000,
  }, async () => {
    // The standby reaches the replica through a link the test can break.
    const linkIn = (box: Sandbox) => join(box.dir, 'replica-link');
    const { box, primary, standby } = await primaryAndStandby((box) => {
      symlinkSync(box.env.REPLICA_URL as string, linkIn(box));
      return { REPLICA_URL: linkIn(box), STANDBY_MAX_LAG: '1s' };
    });
    const token = await tokenFor('lag');
    await create(primary.url, token, 'first');
    await eventually(
      async () => (subjectsOf(await post(standby.url, SUBJECTS)).length === 1 ? true : undefined),
      15_000,
      'the standby to hold the first write',
    );
    rmSync(linkIn(box));
    writeFileSync(linkIn(box), 'not a replica');
    await create(primary.url, token, 'second');
    await eventually(async () => ((await readyOf(standby)).reads.answeredHere ? undefined : true), 15_000, 'stale');
    // Stale on both processes: every read is the primary's, fresh.
    const reads = await Promise.all(Array.from({ length: 12 }, () => post(standby.url, SUBJECTS)));
    for (const read of reads) expect(subjectsOf(read)).toEqual(['first', 'second']);
    expect(await answerers(standby, reads)).toEqual(reads.map(() => null));
  });

  it('never brings forward a file a frozen read worker may still read, and goes on once it answers', {
    timeout: 180_000,
  }, async () => {
    const { primary, standby } = await primaryAndStandby();
    const token = await tokenFor('frozen');
    const files = async () => JSON.stringify((await readyOf(standby)).reads.followed?.files);
    const reader = (await readyOf(standby)).processes?.find((entry) => entry.role === 'reader');
    if (!reader) throw new Error('no read worker listed');
    let stalled = '';
    process.kill(reader.pid, 'SIGSTOP');
    try {
      // At most one more swap is told to the frozen worker; the round after it waits for its answer.
      await create(primary.url, token, 'while frozen');
      await standby.waitForLog('read workers did not take the host state in time', 15_000);
      stalled = await files();
      await create(primary.url, token, 'still frozen');
      await sleep(3000);
      // Neither followed file was written: the one not served may still be attached in the frozen worker.
      expect(await files()).toBe(stalled);
    } finally {
      process.kill(reader.pid, 'SIGCONT');
    }
    await eventually(
      async () => (subjectsOf(await post(standby.url, SUBJECTS)).includes('still frozen') ? true : undefined),
      15_000,
      'the standby to follow again',
    );
    expect(await files()).not.toBe(stalled);
  });

  it('takes over when the primary dies, its read worker letting go of the followed files in time, then reading the primary’s', {
    timeout: 180_000,
  }, async () => {
    const { primary, standby } = await primaryAndStandby(() => ({}), '3');
    const token = await tokenFor('takeover');
    await create(primary.url, token, 'before');
    await eventually(
      async () => (subjectsOf(await post(standby.url, SUBJECTS)).includes('before') ? true : undefined),
      15_000,
      'the standby to hold the write',
    );
    await primary.stop('SIGKILL');
    await standby.waitForLog('promoted: this node is the primary', 30_000);
    // Written on the new primary, then read on every process of it (its read worker opens the file read-only).
    await create(standby.url, token, 'after');
    const reads = await Promise.all(Array.from({ length: 12 }, () => post(standby.url, SUBJECTS)));
    for (const read of reads) expect(subjectsOf(read)).toEqual(['before', 'after']);
    await eventually(
      async () => {
        const read = await post(standby.url, SUBJECTS);
        expect(subjectsOf(read)).toEqual(['before', 'after']);
        return (await answeredBy(standby, read.id)) === 'reader' ? true : undefined;
      },
      30_000,
      'a read answered by the read worker of the new primary',
    );
    // Its read worker let go of the file the promotion took over in time: none was stopped.
    expect(
      standby.logs.filter((entry) => entry.msg === 'read workers still read a file the writer needs: stopping them'),
    ).toEqual([]);
  });

  it('stops a read worker that does not let go of the file a promotion takes over, and promotes', {
    timeout: 180_000,
  }, async () => {
    const { primary, standby } = await primaryAndStandby(() => ({}), '3');
    const token = await tokenFor('evicted');
    await create(primary.url, token, 'before');
    const reader = (await readyOf(standby)).processes?.find((entry) => entry.role === 'reader');
    if (!reader) throw new Error('no read worker listed');
    process.kill(reader.pid, 'SIGSTOP');
    try {
      // A swap the frozen worker is told of and cannot answer: from now on it may hold either file.
      await create(primary.url, token, 'while frozen');
      await standby.waitForLog('read workers did not take the host state in time', 15_000);
      await primary.stop('SIGKILL');
      await standby.waitForLog('read workers still read a file the writer needs: stopping them', 30_000);
      await standby.waitForLog('promoted: this node is the primary', 30_000);
    } finally {
      // Gone by now, unless the test failed before.
      try {
        process.kill(reader.pid, 'SIGCONT');
      } catch {}
    }
    await create(standby.url, token, 'after');
    await eventually(
      async () => {
        const read = await post(standby.url, SUBJECTS);
        return subjectsOf(read).join() === 'before,while frozen,after' ? true : undefined;
      },
      15_000,
      'the new primary answering with every write',
    );
    // The stopped worker was replaced by a new one.
    const table = await eventually(
      async () => {
        const listed = (await readyOf(standby)).processes?.find((entry) => entry.role === 'reader');
        return listed && listed.pid !== reader.pid ? listed : undefined;
      },
      15_000,
      'a new read worker',
    );
    expect(table.pid).not.toBe(reader.pid);
  });
});
