import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fenceAnswer } from '../../src/failover/fenced-answer.ts';

const servers: Server[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A write's answer sent by `answer`, fenced by a lease that `held` says is held or not. */
async function answered(held: boolean, answer: RequestListener) {
  const server = createServer((req, res) => {
    res.setHeader('x-reviews-api-position', '0123456789abcdef.1.4152');
    fenceAnswer(res, () => (held ? null : 'lease lost: it expired before a renewal succeeded'));
    answer(req, res);
  });
  servers.push(server.listen(0, '127.0.0.1'));
  await once(server, 'listening');
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, {
    method: 'POST',
  });
  return { response, text: await response.text() };
}

const SUCCESS = '{"data":{"createReview":{"review":{"id":"UmV2aWV3OjE="}}}}';
const inOneCall: RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(SUCCESS) });
  res.end(SUCCESS);
};

describe("a write's answer, fenced by the lease", () => {
  it('leaves as it is while the lease is held', async () => {
    const { response, text } = await answered(true, inOneCall);
    expect([response.status, text]).toEqual([200, SUCCESS]);
  });

  it('is no acknowledgement once the lease is gone, however the answer is written', async () => {
    const inParts: RequestListener = (_req, res) => {
      res.statusCode = 200;
      res.setHeader('set-cookie', 'reviews_api_position=0123456789abcdef.1.4152');
      res.write(SUCCESS.slice(0, 10));
      res.end(SUCCESS.slice(10));
    };
    for (const answer of [inOneCall, inParts]) {
      const { response, text } = await answered(false, answer);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(response.headers.get('x-reviews-api-position')).toBeNull();
      const body = JSON.parse(text) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
      expect(body.data).toBeUndefined();
      expect(body.errors[0]?.extensions.code).toBe('NOT_REPLICATED');
      expect(body.errors[0]?.message).toContain('retry with the same idempotencyKey');
    }
  });

  it('leaves a refusal as it is: nothing was acknowledged', async () => {
    const refusal = '{"errors":[{"message":"no","extensions":{"code":"BAD_USER_INPUT"}}]}';
    const { response, text } = await answered(false, (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' }).end(refusal);
    });
    expect([response.status, text]).toEqual([400, refusal]);
  });
});
