import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FORWARD_SIGNATURE_HEADER, FORWARDED_FOR_HEADER, NodeForwarding } from '../../src/failover/forwarding.ts';
import {
  formatPosition,
  holds,
  POSITION_COOKIE,
  POSITION_HEADER,
  parsePosition,
  wantedPosition,
} from '../../src/failover/positions.ts';

const requestWith = (headers: Record<string, string>, method = 'POST', url = '/graphql') =>
  ({ headers: { ...headers }, method, url }) as unknown as IncomingMessage;

describe('write positions', () => {
  it('round-trips and refuses what is no position', () => {
    const position = { generation: '0123456789abcdef', index: 12, offset: 41232 };
    expect(parsePosition(formatPosition(position))).toEqual(position);
    for (const bad of ['', 'yesterday', '0123456789abcdef.12', '0123456789ABCDEF.1.2', '0123456789abcdef.-1.2']) {
      expect(parsePosition(bad)).toBeNull();
    }
  });

  it('is held by data at a later index, or further in the same one', () => {
    const wanted = { generation: 'g', index: 3, offset: 1000 };
    expect(holds({ generation: 'g', index: 3, offset: 1000 }, wanted)).toBe(true);
    expect(holds({ generation: 'g', index: 4, offset: 32 }, wanted)).toBe(true);
    expect(holds({ generation: 'g', index: 3, offset: 999 }, wanted)).toBe(false);
    expect(holds({ generation: 'g', index: 2, offset: 9999 }, wanted)).toBe(false);
  });

  it('is read from the header first, else the cookie; a bad header is the client’s mistake, a bad cookie ignored', () => {
    const text = '0123456789abcdef.2.64';
    expect(wantedPosition(requestWith({ [POSITION_HEADER]: text }))).toEqual({ position: parsePosition(text) });
    expect(wantedPosition(requestWith({ cookie: `a=b; ${POSITION_COOKIE}=${text}` }))).toEqual({
      position: parsePosition(text),
    });
    expect(wantedPosition(requestWith({ [POSITION_HEADER]: 'soon' }))).toEqual({ malformed: 'soon' });
    expect(wantedPosition(requestWith({ cookie: `${POSITION_COOKIE}=soon` }))).toBeNull();
    expect(wantedPosition(requestWith({}))).toBeNull();
  });
});

describe('forwarding between nodes', () => {
  const secret = 'a-secret-of-at-least-thirty-two-characters';

  /** The headers a node adds when it forwards a request with this method and path. */
  const signed = (forwarding: NodeForwarding, address: string, at: number, method = 'POST', url = '/graphql') =>
    forwarding.forHeaders(requestWith({}, method, url), address, at);

  it('accepts what another node of the deployment signed, and takes its client address', () => {
    const forwarding = new NodeForwarding(secret);
    const headers = signed(forwarding, '10.1.2.3', Date.now());
    const req = requestWith(headers);
    expect(forwarding.check(req)).toEqual({ kind: 'forwarded', address: '10.1.2.3' });
    // Removed: the app never sees them.
    expect(req.headers[FORWARDED_FOR_HEADER]).toBeUndefined();
  });

  it('refuses a forged, altered, expired or foreign signature, and a lone header', () => {
    const forwarding = new NodeForwarding(secret);
    const now = Date.now();
    const good = signed(forwarding, '10.1.2.3', now);
    const cases: Record<string, string>[] = [
      { ...good, [FORWARDED_FOR_HEADER]: '10.9.9.9' },
      { [FORWARDED_FOR_HEADER]: '10.1.2.3' },
      { [FORWARD_SIGNATURE_HEADER]: good[FORWARD_SIGNATURE_HEADER] as string },
      signed(forwarding, '10.1.2.3', now - 60_000),
      signed(new NodeForwarding('another-secret-of-thirty-two-characters!'), '10.1.2.3', now),
    ];
    for (const headers of cases) expect(forwarding.check(requestWith(headers)).kind).toBe('forged');
    // Signed for another request line.
    expect(forwarding.check(requestWith(signed(forwarding, '10.1.2.3', now, 'POST', '/api/reviews'))).kind).toBe(
      'forged',
    );
    expect(forwarding.check(requestWith({}))).toEqual({ kind: 'client' });
  });
});
