import { once } from 'node:events';
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { clientAddressOf } from '../client-address.ts';
import type { Host } from '../host/host.ts';
import { singleProcess } from '../host/single-process.ts';
import type { Logger } from '../logger.ts';
import { LISTENING } from './listening.ts';
import { GRAPHQL_PATH } from './routes.ts';

/** How long in-flight requests get to finish on shutdown before their sockets are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * How long a client may take, so a slow one cannot hold a socket (and what is buffered for it)
 * for Node's defaults of minutes: the headers within 10 s, the whole request (body included)
 * within 30 s, 5 s between requests on a kept-alive connection, and a reader with bytes waiting
 * for it must take some of them every 60 s or its connection is cut, what waited freed.
 */
export const CLIENT_TIMEOUTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  stalledReaderMs: 60_000,
};

export type ClientTimeouts = typeof CLIENT_TIMEOUTS;

/**
 * A reader that stops reading leaves what it was sent in this process's socket buffer, and no
 * Node timeout sees a write that never completes (Yoga waits for `drain` before it even ends an
 * answer). Like nginx's `send_timeout`: a connection that had bytes waiting at two checks `ms`
 * apart, and handed not one byte to the kernel in between, is destroyed. A slow reader that
 * takes anything stays, however much more is queued behind; SSE streams are held alike.
 */
function cutStalledReaders(server: Server, ms: number) {
  server.on('connection', (socket: Socket) => {
    let waited = false;
    let flushed = 0;
    const check = setInterval(() => {
      const waiting = socket.writableLength;
      // bytesWritten counts what is still buffered too: the difference is what was written out.
      const written = socket.bytesWritten - waiting;
      if (waited && waiting > 0 && written === flushed) socket.destroy();
      waited = waiting > 0;
      flushed = written;
    }, ms).unref();
    socket.once('close', () => clearInterval(check));
  });
}

/**
 * Node hands over every request a pipelining client sent in one write at once, and holds the
 * answers of all but the first in memory until the socket takes them: forty requests written
 * together to a socket that is never read were forty answers held. A request behind another
 * runs only once the socket is its own (after the answer before it has drained), so a
 * connection holds one answer at a time; one whose connection was cut meanwhile never runs.
 */
function oneAnswerAtATime(response: ServerResponse, run: () => void) {
  if (response.socket) run();
  else response.once('socket', (socket: Socket) => socket.destroyed || run());
}

export interface RunningServer {
  server: Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then resolves. */
  close(): Promise<void>;
}

/** The `listening` log line, with the GraphQL URL: what tests, the drill and operators wait for. */
export function announceListening(logger: Logger, running: RunningServer, fields: Record<string, unknown> = {}) {
  logger.info({ url: `${running.url}${GRAPHQL_PATH}`, ...fields }, LISTENING);
}

/**
 * `app`: an App's `handle`, or a listener that hands each request to the App of the moment
 * (failover). `onHost`: the host this process runs in (WORKERS > 1: host-wide /metrics and
 * /ready, and the writer's socket for its read workers).
 */
export async function listen(
  app: RequestListener,
  { port, host, trustedProxies = [] }: { port: number; host: string; trustedProxies?: readonly string[] },
  { timeouts = CLIENT_TIMEOUTS, onHost = singleProcess }: { timeouts?: ClientTimeouts; onHost?: Host } = {},
) {
  const attached = await onHost.attach(app, clientAddressOf(trustedProxies));
  const { handler } = attached;
  const server = createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      // Node checks the two timeouts above this often (30 s by default, longer than a test).
      connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeoutMs),
    },
    (request, response) => oneAnswerAtATime(response, () => handler(request, response)),
  );
  cutStalledReaders(server, timeouts.stalledReaderMs);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(force);
        void attached.close().then(resolve);
      });
      // Keep-alive sockets with no request in flight would hold close() open.
      server.closeIdleConnections();
    });
    return closing;
  };
  return { server, url, close } satisfies RunningServer;
}
