import { once } from 'node:events';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import { Registry } from 'prom-client';
import type { ClientAddressOf } from '../client-address.ts';
import { servedForHost } from './host-http.ts';
import { tellSupervisor } from './ipc.ts';
import { CLIENT_ADDRESS_HEADER, processRole, writerSocket } from './role.ts';
import { shareRegistryWithHost } from './shared-metrics.ts';
import { publishHostState } from './writer-state.ts';

export interface AttachedToHost {
  /** What the shared port serves in this process. */
  handler: RequestListener;
  close(): Promise<void>;
}

/**
 * src/http/server.ts's hook: null when this process serves alone. In a host of several, every
 * process answers /metrics and /ready for the host; the writer also listens on its unix socket,
 * where the read workers hand over what they may not answer, and tells them what to serve.
 */
export async function attachToHost(
  app: RequestListener,
  clientAddress: ClientAddressOf,
): Promise<AttachedToHost | null> {
  const role = processRole();
  if (!role) return null;
  // The supervisor asks every process for metrics from the start: before its first app, none.
  shareRegistryWithHost(new Registry(), { unlessShared: true });
  const handler = servedForHost(app, clientAddress);
  if (role === 'reader') return { handler, close: async () => {} };
  const socketPath = writerSocket();
  rmSync(socketPath, { force: true });
  const socket = createServer((req, res) => app(withClientAddress(req), res));
  socket.listen(socketPath);
  await once(socket, 'listening');
  // The socket trusts the client address it is told: only this user may connect.
  chmodSync(socketPath, 0o600);
  const stopPublishing = publishHostState();
  tellSupervisor({ type: 'cluster:writer-up' });
  return {
    handler,
    async close() {
      stopPublishing();
      await new Promise<void>((resolve) => {
        socket.close(() => resolve());
        socket.closeIdleConnections();
      });
    },
  };
}

/** The read worker's client as the one the writer sees, for the per-IP limit and the logs. */
function withClientAddress(req: IncomingMessage): IncomingMessage {
  const address = req.headers[CLIENT_ADDRESS_HEADER];
  delete req.headers[CLIENT_ADDRESS_HEADER];
  if (typeof address === 'string' && address) {
    // A keep-alive socket carries one request at a time: this request's client, until the next.
    Object.defineProperty(req.socket, 'remoteAddress', { value: address, configurable: true });
  }
  return req;
}
