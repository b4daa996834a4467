import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { classify, tooLarge } from '../../src/failover/standby-reads.ts';

const MAX_BODY_BYTES = 64;

// A failover node reads a write's body to decide where it goes (src/failover/node.ts) before
// Yoga's body limit can see it: past MAX_BODY_BYTES it answers itself, as /graphql would.
const server = createServer((request, response) => {
  void classify(request, MAX_BODY_BYTES).then(({ complete }) =>
    complete ? response.end('classified') : tooLarge(response),
  );
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

it('refuses a body past MAX_BODY_BYTES as /graphql does: 413 REQUEST_ENTITY_TOO_LARGE, and closes', async () => {
  const query = `mutation { ${'x'.repeat(MAX_BODY_BYTES)} }`;
  const answer = await fetch(url, { method: 'POST', body: JSON.stringify({ query }) });
  expect([answer.status, answer.headers.get('connection')]).toEqual([413, 'close']);
  expect(await answer.json()).toEqual({
    errors: [{ message: 'Request body too large', extensions: { code: 'REQUEST_ENTITY_TOO_LARGE' } }],
  });
  const small = await fetch(url, { method: 'POST', body: '{"query":"{ x }"}' });
  expect(await small.text()).toBe('classified');
});
