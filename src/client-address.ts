import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Who a request is from, for the per-address limits. */
export type ClientAddressOf = (req: IncomingMessage | undefined) => string;

const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** An IPv4 client of a dual-stack socket is `::ffff:a.b.c.d`: the same client as `a.b.c.d`. */
const plain = (address: string) => MAPPED_IPV4.exec(address)?.[1] ?? address;

type Family = 'ipv4' | 'ipv6';

const familyOf = (address: string): Family | null => {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
};

/** An address (`10.0.0.5`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`); null for anything else. */
function parseEntry(entry: string): { address: string; family: Family; bits: number | null } | null {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = familyOf(address);
  if (!family || rest.length) return null;
  if (bits === undefined) return { address, family, bits: null };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 'ipv4' ? 32 : 128)) return null;
  return { address, family, bits: Number(bits) };
}

export const isAddressOrRange = (entry: string): boolean => parseEntry(entry) !== null;

/** A client on this machine: 127.0.0.0/8 or ::1 (an IPv4-mapped address is plain by now). */
export const isLoopback = (address: string): boolean => address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);

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
    const parsed = parseEntry(entry);
    // Config refuses such an entry: one here is a caller's mistake, not a proxy to skip.
    if (!parsed) throw new Error(`TRUSTED_PROXIES: not an address or CIDR range: ${entry}`);
    if (parsed.bits === null) trusted.addAddress(parsed.address, parsed.family);
    else trusted.addSubnet(parsed.address, parsed.bits, parsed.family);
  }
  const isTrusted = (address: string) => {
    const family = familyOf(address);
    return family !== null && trusted.check(address, family);
  };
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
