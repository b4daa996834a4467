import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardToWriter } from '../../src/cluster/forward.ts';
import { CLIENT_ADDRESS_HEADER } from '../../src/cluster/role.ts';
import { NodeForwarding } from '../../src/failover/forwarding.ts';

/**
 * The one forwarding mechanism with its two targets, over real sockets: a read worker's hop to
 * the writer of its host (a unix socket) and a standby's hop to the lease holder (HTTP on
 * loopback, signed). The same request must arrive the same way at either, and come back
 * unchanged; only what the targets' data says differs.
 */
const SECRET = 'a secret every node shares';
const forwarding = new NodeForwarding(SECRET);
const dir = mkdtempSync(join(tmpdir(), 'reviews-forward-'));
const socketPath = join(dir, 'writer.sock');
const servers: Server[] = [];
/** Requests each target received, by path. */
const received: Record<string, { headers: IncomingMessage['headers']; body: string }[]> = {};
let nodeUrl = '';
let frontUrl = '';

/** A target: echoes what reached it (headers, body) with a status and a header of its own, or breaks off. */
function target(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const path = req.url ?? '';
    received[path] = [...(received[path] ?? []), { headers: req.headers, body: Buffer.concat(chunks).toString() }];
    if (path.startsWith('/break')) return req.socket.destroy();
    res.writeHead(201, { 'x-answered-by': 'target', 'content-type': 'text/plain' }).end(`echo ${req.method}`);
  });
}

/** The forwarding process: /writer/… goes over the socket, /node/… to the node, /nowhere/… to neither. */
function front(req: IncomingMessage, res: ServerResponse) {
  const [, hop = '', ...rest] = (req.url ?? '').split('/');
  req.url = `/${rest.join('/')}`;
  const write = req.method !== 'GET';
  if (hop === 'writer') return forwardToWriter(req, res, socketPath);
  if (hop === 'dead-writer') return forwardToWriter(req, res, join(dir, 'nobody.sock'));
  if (hop === 'node') return forwarding.forward(req, res, nodeUrl, [], write);
  // A port that was open a moment ago and is closed now: nothing listens there.
  forwarding.forward(req, res, deadUrl, [], write);
}

let deadUrl = '';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, at: string | number) {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((ready) =>
    typeof at === 'string' ? server.listen(at, ready) : server.listen(at, '127.0.0.1', ready),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  await serve(target, socketPath);
  nodeUrl = await serve(target, 0);
  frontUrl = await serve(front, 0);
  const closed = createServer();
  await new Promise<void>((ready) => closed.listen(0, '127.0.0.1', ready));
  deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((done) => closed.close(done));
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
  rmSync(dir, { recursive: true, force: true });
});

const send = (path: string, init: RequestInit = {}) => fetch(`${frontUrl}${path}`, init);

describe('forwarding a request, in-host or to another node', () => {
  it.each([
    ['writer', 'the writer of this host'],
    ['node', 'the lease holder'],
  ])('to %s (%s): once, with its body, headers and client, and the answer returned unchanged', async (hop) => {
    const path = `/graphql?to=${hop}`;
    const answer = await send(`/${hop}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-client-header': 'kept' },
      body: JSON.stringify({ query: 'mutation { x }' }),
    });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('x-answered-by')).toBe('target');
    expect(await answer.text()).toBe('echo POST');
    const [arrived, ...more] = received[path] ?? [];
    expect(more).toEqual([]);
    expect(arrived?.body).toBe('{"query":"mutation { x }"}');
    expect(arrived?.headers['x-client-header']).toBe('kept');
    // The client's address, as each target's data says to carry it: as it is over the socket, signed between nodes.
    if (hop === 'writer') expect(arrived?.headers[CLIENT_ADDRESS_HEADER]).toBe('127.0.0.1');
    else {
      const check = forwarding.check({
        headers: { ...arrived?.headers },
        method: 'POST',
        url: path,
      } as IncomingMessage);
      expect(check).toEqual({ kind: 'forwarded', address: '127.0.0.1' });
    }
  });

  it.each([
    ['dead-writer', 'the writer of this host did not answer'],
    ['nowhere', 'did not answer'],
  ])('answers READ_ONLY 503 + Retry-After when %s cannot be reached', async (hop, reason) => {
    const answer = await send(`/${hop}/graphql`, { method: 'POST', body: '{}' });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    const body = (await answer.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('READ_ONLY');
    expect(body.errors[0]?.message).toContain(reason);
  });

  it('never sends a request twice when the target breaks off: a write between nodes is 502 (maybe written), a read READ_ONLY', async () => {
    const write = await send('/node/break-write', { method: 'POST', body: '{}' });
    expect(write.status).toBe(502);
    expect(((await write.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
      /may or may not have been done; retry with the same idempotencyKey/,
    );
    const read = await send('/node/break-read');
    expect(read.status).toBe(503);
    // In-host, the writer breaking off takes the host down with it: READ_ONLY, as its data says.
    const inHost = await send('/writer/break-in-host', { method: 'POST', body: '{}' });
    expect(inHost.status).toBe(503);
    for (const path of ['/break-write', '/break-read', '/break-in-host']) expect(received[path]).toHaveLength(1);
  });
});
