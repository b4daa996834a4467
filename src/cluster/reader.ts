import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Config } from '../config.ts';
import type { NodeState } from '../context.ts';
import { type Db, openDatabase } from '../db/client.ts';
import { listen } from '../http/server.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Logger } from '../logger.ts';
import { forwardToWriter, isSurelyRead, readUpTo, toWriter } from './forward.ts';
import { onSupervisor, tellSupervisor } from './ipc.ts';
import type { HostState } from './messages.ts';
import { writerSocket } from './role.ts';

/** After a takeover changes the file, requests still reading the old one get this long. */
const OLD_FILE_GRACE_MS = 10_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const HEALTH_PATH = '/health';

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
 * A read worker: answers queries, REST reads and subscriptions from the writer's file,
 * opened read-only (WAL: it sees every commit at once, never blocks the writer, never
 * checkpoints, which Litestream alone may do). Whatever it may not answer (a mutation, or
 * anything while the writer is not a primary that may write) it hands to the writer.
 */
export async function runReader(config: Config, logger: Logger): Promise<void> {
  const log = logger.child({ role: 'reader' });
  const socketPath = writerSocket();
  let state: HostState = { serveReads: false, databasePath: null };
  let serving: Serving | null = null;
  const open = (path: string): Serving => {
    const db = openDatabase(path, { readonly: true, replicating: true });
    return { path, db, app: createApp({ db, config, logger: log, node: readerNode }) };
  };
  onSupervisor('cluster:host-state', ({ state: next }) => {
    if (next.serveReads && next.databasePath && serving?.path !== next.databasePath) {
      const previous = serving;
      try {
        serving = open(next.databasePath);
      } catch (error) {
        log.error({ error: (error as Error).message, path: next.databasePath }, 'read worker cannot open the file');
        serving = null;
      }
      if (previous) setTimeout(() => previous.db.$client.close(), OLD_FILE_GRACE_MS).unref();
    }
    state = next;
  });
  const handler: RequestListener = (req, res) => {
    const local = state.serveReads ? serving : null;
    if (!local) return forwardToWriter(req, res, socketPath);
    route(req, res, local.app, socketPath, config.maxBodyBytes);
  };
  const running = await listen(handler, config);
  tellSupervisor({ type: 'cluster:reader-up' });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal }, 'read worker shutting down');
  await running.close();
  toWriter.destroy();
  (serving as Serving | null)?.db.$client.close();
  log.info('read worker stopped');
}

/** Reads here, writes to the writer: by method, and for /graphql by the document. */
function route(req: IncomingMessage, res: ServerResponse, app: App, socketPath: string, maxBodyBytes: number) {
  const method = req.method ?? 'GET';
  // The host is alive while its writer is: a standby's heartbeat must not hear a read worker
  // answer for a writer that froze.
  if (req.url === HEALTH_PATH) return forwardToWriter(req, res, socketPath);
  if (SAFE_METHODS.has(method)) return void app(req, res);
  if (!req.url?.startsWith('/graphql') || method !== 'POST') return forwardToWriter(req, res, socketPath);
  readUpTo(req, maxBodyBytes).then(
    ({ chunks, complete }) => {
      const body = Buffer.concat(chunks);
      if (!(complete && isSurelyRead(body))) return forwardToWriter(req, res, socketPath, chunks);
      // Yoga's Node adapter takes a body already read from `req.body` (whatwg-node's normalizeNodeRequest).
      (req as IncomingMessage & { body?: Buffer }).body = body;
      app(req, res);
    },
    () => res.destroy(),
  );
}
