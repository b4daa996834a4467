import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachToHost } from '../cluster/attach.ts';
import type { Logger } from '../logger.ts';
import { LISTENING } from './listening.ts';

/** How long in-flight requests get to finish on shutdown before their sockets are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningServer {
  server: Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then resolves. */
  close(): Promise<void>;
}

/** `app`: an App, or a listener that hands each request to the App of the moment (failover). */
export async function listen(app: RequestListener, { port, host }: { port: number; host: string }, logger?: Logger) {
  // WORKERS > 1: host-wide /metrics and /ready, and the writer's socket for its read workers.
  const onHost = await attachToHost(app);
  const server = createServer(onHost?.handler ?? app);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger?.info({ url: `${url}/graphql` }, LISTENING);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(force);
        void (onHost?.close() ?? Promise.resolve()).then(resolve);
      });
      // Keep-alive sockets with no request in flight would hold close() open.
      server.closeIdleConnections();
    });
    return closing;
  };
  return { server, url, close } satisfies RunningServer;
}
