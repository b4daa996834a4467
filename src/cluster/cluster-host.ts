import { once } from 'node:events';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { Cache } from '@graphql-yoga/plugin-response-cache';
import { Registry } from 'prom-client';
import type { ClientAddressOf } from '../client-address.ts';
import type { NodeState } from '../context.ts';
import type { Db } from '../db/client.ts';
import type { AttachedToHost, FileSharers, Host, Seats } from '../host/host.ts';
import { servedForHost } from './host-http.ts';
import type { SupervisorChannel } from './ipc.ts';
import { CLIENT_ADDRESS_HEADER, type ProcessRole } from './role.ts';
import { invalidatedAcrossHost } from './shared-cache.ts';
import { HostEventTarget } from './shared-events.ts';
import { SharedRegistry } from './shared-metrics.ts';
import { seatsAcrossHost } from './shared-seats.ts';
import { WriterState } from './writer-state.ts';

/**
 * One process of a host of several (WORKERS > 1), the writer or a read worker, as its start-up
 * made it (src/cluster/host.ts): what it shares goes through the supervisor over `channel`.
 */
export class ClusterHost implements Host {
  /** One for the process: every app's events reach every process's subscribers. */
  #events: HostEventTarget | null = null;
  readonly #registry = new SharedRegistry();
  /** The writer's: what its read workers serve. */
  readonly #writer: WriterState | null;

  constructor(
    readonly role: ProcessRole,
    /** The writer's unix socket, where read workers hand over what they may not answer. */
    readonly writerSocket: string,
    readonly channel: SupervisorChannel,
  ) {
    this.#writer = role === 'writer' ? new WriterState(channel) : null;
  }

  reviewEvents(): EventTarget {
    this.#events ??= new HostEventTarget(this.channel);
    return this.#events;
  }

  shareMetrics(registry: Registry): void {
    this.#registry.share(registry);
  }

  responseCache(cache: Cache): Cache {
    return invalidatedAcrossHost(cache, this.channel);
  }

  /** The supervisor keeps the host's counts, with MAX_SUBSCRIPTIONS(_PER_ADDRESS) of its config. */
  subscriptionSeats(): Seats {
    return seatsAcrossHost(this.channel);
  }

  appServed(db: Db, node: NodeState): void {
    this.#writer?.appServed(db, node);
  }

  get fileSharers(): FileSharers | undefined {
    return this.#writer?.sharers;
  }

  /**
   * Every process answers /metrics and /ready for the host. The writer also listens on its unix
   * socket, where the read workers hand over what they may not answer, and tells them what to serve.
   */
  async attach(app: RequestListener, clientAddress: ClientAddressOf): Promise<AttachedToHost> {
    this.#registry.shareUntilAnApp(new Registry());
    const handler = servedForHost(app, clientAddress, this.channel, this.writerSocket);
    if (!this.#writer) return { handler, close: async () => {} };
    rmSync(this.writerSocket, { force: true });
    const socket = createServer((req, res) => app(withClientAddress(req), res));
    socket.listen(this.writerSocket);
    await once(socket, 'listening');
    // The socket trusts the client address it is told: only this user may connect.
    chmodSync(this.writerSocket, 0o600);
    const stopPublishing = this.#writer.publishing();
    this.channel.tell({ type: 'cluster:writer-up' });
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
