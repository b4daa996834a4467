import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { hostMetricsCollector } from './host-metrics.ts';
import {
  type HostStateMessage,
  type Invalidated,
  isClusterMessage,
  type ProcessInfo,
  type ToSupervisor,
  type ToWorker,
} from './messages.ts';
import { ReaderTurns } from './reader-turns.ts';
import { type ProcessRole, ROLE_VARIABLE, SOCKET_VARIABLE } from './role.ts';
import { hostSeats } from './shared-seats.ts';

/** How long a process may take to say how many requests it served, for /ready. */
const STATS_TIMEOUT_MS = 1000;
/** How long a write's answer waits for another process to drop what it touched from its cache. */
const INVALIDATE_TIMEOUT_MS = 1000;
/** Before a crashed read worker is forked again: a worker failing at start does not spin. */
const RESTART_DELAY_MS = 250;

interface Member {
  role: ProcessRole;
  worker: Worker;
  upSince: string;
  exited: Promise<unknown>;
}

/**
 * WORKERS > 1: node:cluster's primary process. It serves nothing itself: it forks the writer,
 * then (once the writer's socket listens) the read workers, which share the port with it
 * (each accepts connections from the one listening socket). It relays what must not split between
 * them (live-update events, cache invalidations, the writer's state and which read workers took
 * it: src/cluster/reader-turns.ts), collects the host's
 * metrics and process table, restarts a read worker that dies, and takes the host down when
 * the writer dies (its lease is gone with it: the standby takes over). SIGTERM drains the read
 * workers first (their writes are executed by the writer), then the writer, which stops as a
 * lone process does: HTTP, database, Litestream's last frames, and only then the lease.
 */
export async function superviseHost(config: Config, logger: Logger): Promise<number> {
  // Each process accepts its own connections from the shared socket (the kernel's queue), rather
  // than this one accepting them and handing each over: a connection handed to a worker in the
  // instant it died was held here, unread and unanswered, for good (node:cluster keeps its copy
  // until the worker says it took it). Now a dead worker's connections are reset with it, and
  // those still queued go to the live ones. Measured split under load: 55-60 % to one process.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const log = logger.child({ role: 'supervisor' });
  const upSince = new Date().toISOString();
  const socketPath = join(tmpdir(), `reviews-api-${process.pid}.sock`);
  const hostMetrics = hostMetricsCollector();
  const seats = hostSeats(config.maxSubscriptions, config.maxSubscriptionsPerAddress);
  const members = new Map<number, Member>();
  /** The writer's newest state, for a read worker that starts; none before its first. */
  let hostState: HostStateMessage | null = null;
  const turns = new ReaderTurns();
  let readersForked = false;
  let stopping = false;
  let writerExit: ((code: number) => void) | null = null;
  const writerGone = new Promise<number>((resolve) => {
    writerExit = resolve;
  });
  /** Questions sent to one worker, by id: its reply, or null once it did not answer in time. */
  const replies = new Map<number, (reply: number | null) => void>();
  let nextReplyId = 0;

  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };
  const fork = (role: ProcessRole) => {
    const worker = cluster.fork({ [ROLE_VARIABLE]: role, [SOCKET_VARIABLE]: socketPath });
    members.set(worker.id, { role, worker, upSince: new Date().toISOString(), exited: once(worker, 'exit') });
    return worker;
  };
  const others = (sender: Worker) => [...members.values()].filter((member) => member.worker !== sender);
  const sendState = (worker: Worker, message: HostStateMessage) => {
    turns.sent(worker.id, message.turn);
    send(worker, message);
  };
  /**
   * Whether every live read worker took `turn`. `evict`: the writer is promoting and must not
   * wait on a worker that does not answer; those are stopped (and started again) first.
   */
  const turnTaken = async (turn: number, evict: boolean) => {
    const stragglers = await turns.taken(turn);
    if (stragglers.length === 0) return true;
    const stuck = stragglers.map((id) => members.get(id)).filter((member) => member !== undefined);
    log.warn(
      { turn, pids: stuck.map((member) => member.worker.process.pid), evict },
      evict
        ? 'read workers still read a file the writer needs: stopping them'
        : 'read workers did not take the host state in time',
    );
    if (!evict) return false;
    for (const member of stuck) member.worker.process.kill('SIGKILL');
    await Promise.all(stuck.map((member) => member.exited));
    return true;
  };

  const askWorker = (member: Member, message: (id: number) => ToWorker, withinMs: number) =>
    new Promise<number | null>((resolve) => {
      const id = nextReplyId++;
      const done = (reply: number | null) => {
        clearTimeout(timer);
        replies.delete(id);
        resolve(reply);
      };
      const timer = setTimeout(() => done(null), withinMs);
      replies.set(id, done);
      send(member.worker, message(id));
    });
  const requestsServed = (member: Member) =>
    askWorker(member, (id) => ({ type: 'cluster:stats?', id }), STATS_TIMEOUT_MS);
  /** Whether every process but the writer dropped `entities` from its response cache in time. */
  const invalidated = async (writer: Worker, entities: Invalidated) => {
    const asked = others(writer).map((member) =>
      askWorker(member, (id) => ({ type: 'cluster:invalidate', id, entities }), INVALIDATE_TIMEOUT_MS),
    );
    return (await Promise.all(asked)).every((reply) => reply !== null);
  };
  const processTable = async (): Promise<ProcessInfo[]> => {
    const workers = await Promise.all(
      [...members.values()].map(async (member) => ({
        role: member.role,
        pid: member.worker.process.pid ?? 0,
        upSince: member.upSince,
        requestsServed: await requestsServed(member),
      })),
    );
    return [{ role: 'supervisor', pid: process.pid, upSince, requestsServed: 0 }, ...workers];
  };

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isClusterMessage(message)) return;
    const typed = message as ToSupervisor;
    switch (typed.type) {
      case 'cluster:events':
        for (const member of others(worker)) send(member.worker, typed);
        return;
      case 'cluster:invalidated':
        replies.get(typed.id)?.(0);
        return;
      case 'cluster:host-state':
        hostState = typed;
        for (const member of others(worker)) sendState(member.worker, typed);
        return;
      case 'cluster:turn-taken':
        turns.took(worker.id, typed.turn);
        return;
      case 'cluster:reader-up':
        if (hostState) sendState(worker, hostState);
        return;
      case 'cluster:writer-up':
        if (readersForked || stopping) return;
        readersForked = true;
        for (let i = 1; i < config.workers; i++) fork('reader');
        return;
      case 'cluster:stats':
        replies.get(typed.id)?.(typed.requestsServed);
        return;
      case 'cluster:seat-free':
        seats.give(worker.id, typed.address);
        return;
      case 'cluster:ask': {
        if (typed.question === 'seat') {
          send(worker, { type: 'cluster:answer', id: typed.id, granted: seats.take(worker.id, typed.address) });
          return;
        }
        if (typed.question === 'invalidate') {
          void invalidated(worker, typed.entities).then((granted) =>
            send(worker, { type: 'cluster:answer', id: typed.id, granted }),
          );
          return;
        }
        if (typed.question === 'turn-taken') {
          void turnTaken(typed.turn, typed.evict).then((granted) =>
            send(worker, { type: 'cluster:answer', id: typed.id, granted }),
          );
          return;
        }
        const answer =
          typed.question === 'metrics'
            ? hostMetrics([...members.values()].map((member) => member.worker)).then((metrics) => ({ metrics }))
            : processTable().then((processes) => ({ processes }));
        answer.then(
          (fields) => send(worker, { type: 'cluster:answer', id: typed.id, ...fields }),
          (error: Error) => send(worker, { type: 'cluster:answer', id: typed.id, error: error.message }),
        );
        return;
      }
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const member = members.get(worker.id);
    members.delete(worker.id);
    seats.drop(worker.id);
    turns.gone(worker.id);
    if (!member) return;
    if (member.role === 'writer') {
      if (!stopping) log.error({ pid: worker.process.pid, code, signal }, 'the writer exited: stopping this host');
      writerExit?.(code ?? 1);
      return;
    }
    if (stopping) return;
    log.warn({ pid: worker.process.pid, code, signal }, 'a read worker exited: starting another');
    void sleep(RESTART_DELAY_MS).then(() => {
      if (!stopping) fork('reader');
    });
  });

  log.info({ workers: config.workers, pid: process.pid }, 'supervising one writer and read workers');
  fork('writer');
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const outcome = await Promise.race([stopped, writerGone]);
  stopping = true;
  if (typeof outcome === 'string') log.info({ signal: outcome }, 'shutting down: read workers, then the writer');
  const stopAll = async (role: ProcessRole) => {
    const group = [...members.values()].filter((member) => member.role === role);
    for (const member of group) member.worker.process.kill('SIGTERM');
    await Promise.all(group.map((member) => member.exited));
  };
  await stopAll('reader');
  await stopAll('writer');
  const code = await writerGone;
  rmSync(socketPath, { force: true });
  log.info('stopped');
  return typeof outcome === 'string' ? code : code || 1;
}
