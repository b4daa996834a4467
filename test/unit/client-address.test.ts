import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddressOf, isAddressOrRange } from '../../src/client-address.ts';

const request = (peer: string, forwardedFor?: string | string[]) =>
  ({ socket: { remoteAddress: peer }, headers: { 'x-forwarded-for': forwardedFor } }) as unknown as IncomingMessage;

describe('clientAddressOf', () => {
  it('is the socket peer without trusted proxies, whatever X-Forwarded-For says', () => {
    const of = clientAddressOf([]);
    expect(of(request('203.0.113.7', '198.51.100.1'))).toBe('203.0.113.7');
    expect(of(request('::ffff:203.0.113.7'))).toBe('203.0.113.7');
  });

  it('reads a trusted proxy’s X-Forwarded-For from the right, past the trusted hops', () => {
    const of = clientAddressOf(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(of(request('127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1');
    // A client-written entry left of what our proxies wrote is not believed.
    expect(of(request('127.0.0.1', '1.2.3.4, 198.51.100.1, 10.1.2.3'))).toBe('198.51.100.1');
    expect(of(request('::ffff:127.0.0.1', ['192.0.2.9', '10.0.0.2']))).toBe('192.0.2.9');
    expect(of(request('fd00::1', '2001:db8::5'))).toBe('2001:db8::5');
  });

  it('falls back to the nearest trusted hop when the header is missing, all ours, or broken', () => {
    const of = clientAddressOf(['127.0.0.1', '10.0.0.0/8']);
    expect(of(request('127.0.0.1'))).toBe('127.0.0.1');
    expect(of(request('127.0.0.1', '10.0.0.3'))).toBe('10.0.0.3');
    expect(of(request('127.0.0.1', 'not-an-address'))).toBe('127.0.0.1');
    expect(of(request('127.0.0.1', '198.51.100.1, garbage, 10.0.0.4'))).toBe('10.0.0.4');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    const of = clientAddressOf(['10.0.0.1']);
    expect(of(request('203.0.113.7', '198.51.100.1'))).toBe('203.0.113.7');
  });
});

describe('isAddressOrRange', () => {
  it('takes addresses and CIDR ranges of either family, nothing else', () => {
    for (const good of ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '0.0.0.0/0'])
      expect(isAddressOrRange(good)).toBe(true);
    for (const bad of ['localhost', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', '10.0.0.0/', '']) {
      expect(isAddressOrRange(bad), bad).toBe(false);
    }
  });
});
