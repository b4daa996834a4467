import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeForwarding } from '../../src/failover/forwarding.ts';

const servers: Server[] = [];

async function listening(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A primary that takes requests and never answers them, as a frozen one does. */
async function frozenPrimary() {
  const received: IncomingMessage[] = [];
  const url = await listening(
    createServer((req) => {
      // A request its sender gave up on ends in an 'aborted' error here: expected.
      req.on('error', () => {});
      received.push(req);
    }),
  );
  return { url, received };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

describe('forwarding to a lease holder', () => {
  it('answers the writes waiting on a former holder as soon as the lease leaves it, and only those', async () => {
    const forwarding = new NodeForwarding('a secret every node of this deployment shares');
    const [left, kept] = [await frozenPrimary(), await frozenPrimary()];
    const standby = await listening(
      createServer((req, res) => forwarding.forward(req, res, req.url === '/left' ? left.url : kept.url, [], true)),
    );
    const send = (path: string) =>
      fetch(`${standby}${path}`, { method: 'POST', body: '{"query":"mutation { x }"}' }).then(async (response) => ({
        path,
        status: response.status,
        body: await response.text(),
      }));
    // The request to the node that keeps the lease is sent first: without abandoning, its
    // deadline would answer it first.
    const toKept = send('/kept');
    while (kept.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const toLeft = send('/left');
    while (left.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    forwarding.abandon(left.url);
    const first = await Promise.race([toKept, toLeft]);

    expect(first.path).toBe('/left');
    expect(first.status).toBe(502);
    expect(first.body).toContain('may or may not have been done');
    // The former holder sees the request go: it is not left running there for a whole deadline.
    const gone = left.received[0] as IncomingMessage;
    await new Promise((resolve) => (gone.destroyed ? resolve(null) : gone.once('close', resolve)));
    forwarding.abandon(kept.url);
    expect((await toKept).status).toBe(502);
  });
});
