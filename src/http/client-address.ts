import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Who a request is from, for the per-address limits. */
export type ClientAddressOf = (req: IncomingMessage | undefined) => string;

const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** An IPv4 client of a dual-stack socket is `::ffff:a.b.c.d`: the same client as `a.b.c.d`. */
const plain = (address: string) => MAPPED_IPV4.exec(address)?.[1] ?? address;

/** True for an address (`10.0.0.5`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrRange(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * The socket's peer, unless it is one of TRUSTED_PROXIES: then the nearest address in
 * X-Forwarded-For that is not a trusted proxy. Each proxy appends the address it was reached
 * from, so reading from the right, past our own proxies, gives the client they saw; whatever
 * stands left of that is the client's to write and is never believed. Without trusted proxies
 * the header is ignored: behind nginx every client would otherwise share nginx's address, and
 * with it one per-address budget.
 */
export function clientAddressOf(trustedProxies: readonly string[]): ClientAddressOf {
  if (trustedProxies.length === 0) return (req) => plain(req?.socket.remoteAddress ?? 'in-process');
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(bits), family);
  }
  const isTrusted = (address: string) =>
    isIP(address) !== 0 && trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  return (req) => {
    const peer = plain(req?.socket.remoteAddress ?? 'in-process');
    if (!req || !isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain((hops[i] as string).trim());
      if (!isIP(hop)) break;
      client = hop;
      if (!isTrusted(hop)) break;
    }
    return client;
  };
}
