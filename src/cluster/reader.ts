import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Config } from '../config.ts';
import type { NodeState } from '../context.ts';
import { type Db, openDatabase } from '../db/client.ts';
import type { WritePosition } from '../failover/positions.ts';
import { AttachedFile, lagOf, servedHolds } from '../failover/served-file.ts';
import { answerOnStandby, classify, followedDataConfig, type StandbyData } from '../failover/standby-reads.ts';
import type { ServedFile } from '../host/host.ts';
import { HEALTH_PATH } from '../http/routes.ts';
import { listen } from '../http/server.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Logger } from '../logger.ts';
import type { ClusterHost } from './cluster-host.ts';
import { forwardToWriter, toWriter } from './forward.ts';
import type { HostState } from './messages.ts';

/** After a takeover changes the file, requests still reading the old one get this long. */
const OLD_FILE_GRACE_MS = 10_000;

/** A read worker never writes: its file is opened read-only, and it hands every write on. */
const readerNode: NodeState = {
  whyReadOnly: () => 'a read worker: the writer of this host executes every write',
  describe: () => ({ role: 'reader' }),
};

interface Serving {
  path: string;
  db: Db;
  app: App;
}

/**
 * A read worker of a standby: the file its writer serves, attached here the same way
 * (AttachedFile), with its position and freshness as the writer last told them. It never waits
 * for a write's position itself: a read that names one this file does not hold yet goes to the
 * writer, which waits for it (or hands the read to the primary).
 */
class WorkerFollowedReads implements StandbyData {
  readonly #file = new AttachedFile();
  #served: ServedFile | null = null;
  #app: App | null = null;

  /** The app reading the attached file, built once: it outlives every swap, as the writer's does. */
  app(make: (db: Db) => App): App {
    this.#app ??= make(this.#file.db);
    return this.#app;
  }

  get serving(): boolean {
    return this.#served !== null;
  }

  /** `served` attached in place of what was (null: nothing attached). */
  take(served: ServedFile | null): void {
    if (served === null) this.#file.detach();
    else if (this.#file.path !== served.path) this.#file.attach(served.path);
    this.#served = served;
  }

  lagMs(): number | null {
    return lagOf(this.#served);
  }

  waitFor(wanted: WritePosition): Promise<boolean> {
    return Promise.resolve(servedHolds(this.#served?.position ?? null, wanted));
  }
}

/**
 * A read worker. On a primary it answers queries, REST reads and subscriptions from the
 * writer's file, opened read-only (WAL: it sees every commit at once, never blocks the writer,
 * never checkpoints, which Litestream alone may do). On a standby it answers reads from the
 * followed file the writer serves now, by the standby's rules (src/failover/standby-reads.ts).
 * Whatever it may not answer (a mutation, a subscription on a standby, a read the standby's
 * rules send on, anything while the writer is neither) it hands to the writer. It tells the
 * supervisor each host state it took once it reads nothing but what that state names: a
 * followed file is written again only once every read worker let go of it.
 */
export async function runReader(config: Config, logger: Logger, host: ClusterHost): Promise<void> {
  const log = logger.child({ role: 'reader' });
  const socketPath = host.writerSocket;
  let state: HostState = { reads: 'writer' };
  let serving: Serving | null = null;
  const followed = new WorkerFollowedReads();
  const appOn = (db: Db) => createApp({ db, config, logger: log, node: readerNode, host });
  const followedAppOn = (db: Db) =>
    createApp({ db, config: followedDataConfig(config), logger: log, node: readerNode, host });
  const open = (path: string): Serving => {
    const db = openDatabase(path, { readonly: true, replicating: true });
    return { path, db, app: appOn(db) };
  };
  /** The primary's file let go of: at once unless another takes its place (requests on it get a grace). */
  const leavePrimary = (graceMs: number) => {
    const previous = serving;
    serving = null;
    if (!previous) return;
    if (graceMs === 0) previous.db.$client.close();
    else setTimeout(() => previous.db.$client.close(), graceMs).unref();
  };
  const take = (next: HostState) => {
    if (next.reads === 'primary') {
      followed.take(null);
      if (serving?.path !== next.databasePath) {
        leavePrimary(OLD_FILE_GRACE_MS);
        serving = open(next.databasePath);
      }
    } else {
      // A standby's follower (or a restore) may write the primary's file next.
      leavePrimary(0);
      followed.take(next.reads === 'followed' ? next.file : null);
    }
    state = next;
  };
  host.channel.on('cluster:host-state', ({ state: next, turn }) => {
    try {
      take(next);
    } catch (error) {
      // Not taken: the writer's round waits (and fails past its bound) rather than write under it.
      log.error({ error: (error as Error).message, state: next }, 'read worker cannot take the host state');
      return;
    }
    host.channel.tell({ type: 'cluster:turn-taken', turn });
  });
  const rules = { maxBodyBytes: config.maxBodyBytes, maxLagMs: config.standbyMaxLagMs, positionWaitMs: 0 };
  const handler: RequestListener = (req, res) => {
    // The host is alive while its writer is: a standby's heartbeat must not hear a read worker
    // answer for a writer that froze.
    if (req.url === HEALTH_PATH) return forwardToWriter(req, res, socketPath);
    if (state.reads === 'primary' && serving) return route(req, res, serving.app, socketPath, config.maxBodyBytes);
    if (state.reads === 'followed' && followed.serving) {
      const app = followed.app(followedAppOn);
      return void answerOnStandby(req, res, followed, rules, app.handle, (chunks) =>
        forwardToWriter(req, res, socketPath, chunks),
      ).catch(() => res.destroy());
    }
    forwardToWriter(req, res, socketPath);
  };
  const running = await listen(handler, config, { onHost: host });
  host.channel.tell({ type: 'cluster:reader-up' });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal }, 'read worker shutting down');
  await running.close();
  toWriter.destroy();
  leavePrimary(0);
  log.info('read worker stopped');
}

/** Reads here, writes to the writer: by method, and for /graphql by the document. */
function route(req: IncomingMessage, res: ServerResponse, app: App, socketPath: string, maxBodyBytes: number) {
  classify(req, maxBodyBytes).then(
    ({ write, chunks }) => (write ? forwardToWriter(req, res, socketPath, chunks) : app.handle(req, res)),
    () => res.destroy(),
  );
}
