import { readdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { databaseMetrics, parsePrometheusText } from '../../src/replication/metrics.ts';

/**
 * A TCP relay between Litestream and the S3 emulator that can stall: paused, it takes
 * connections and bytes but passes nothing on, as an unreachable or hung object store does
 * (the emulator itself cannot be paused: it runs in the test process). Resumed, it delivers
 * what it held back.
 */
export class StallingRelay {
  #server: Server;
  #paused = false;
  #held: (() => void)[] = [];
  #sockets = new Set<Socket>();
  address = '';

  constructor(private readonly target: { host: string; port: number }) {
    this.#server = createServer((client) => this.#relay(client));
  }

  async start(): Promise<void> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('relay has no port');
    this.address = `http://127.0.0.1:${address.port}`;
  }

  pause() {
    this.#paused = true;
  }

  resume() {
    this.#paused = false;
    for (const deliver of this.#held.splice(0)) deliver();
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  #relay(client: Socket) {
    const upstream = connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const later = (deliver: () => void) => (this.#paused ? this.#held.push(deliver) : deliver());
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => later(() => to.write(chunk)));
      from.on('end', () => later(() => to.end()));
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}

/** WAL segment files a directory replica holds: Litestream uploads one per index per sync. */
export function replicaWalSegments(replicaDir: string): number {
  let count = 0;
  let generations: string[];
  try {
    generations = readdirSync(join(replicaDir, 'generations'));
  } catch {
    return 0;
  }
  for (const generation of generations) {
    try {
      count += readdirSync(join(replicaDir, 'generations', generation, 'wal')).length;
    } catch {
      // A generation with a snapshot and no WAL yet.
    }
  }
  return count;
}

/** Litestream's own figures for the database, from its metrics endpoint. */
export async function litestreamFigures(metricsUrl: string, databasePath: string) {
  const text = await (await fetch(metricsUrl)).text();
  const figures = databaseMetrics(parsePrometheusText(text), databasePath);
  if (!figures) throw new Error(`Litestream reports nothing for ${databasePath}`);
  return figures;
}
