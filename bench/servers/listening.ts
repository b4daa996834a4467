import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The line the bench waits for, in the shape `reviews-api serve` logs it. */
export function logListening(address: AddressInfo) {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${address.port}/graphql` })}\n`);
}

/** Closes the server, then the database, on SIGTERM/SIGINT, so a --cpu-prof profile is written. */
export function stopOnSignal(server: Server, closeDatabase: () => void | Promise<void>) {
  const stop = () => {
    server.close(async () => {
      await closeDatabase();
      process.exit(0);
    });
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
