import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { ErrorCode, sendRefusal } from '../errors.ts';
import { type ForwardTarget, forwardRequest } from '../http/forward.ts';

/**
 * Between nodes: a standby hands a write (or a read it may not answer) to the lease holder with
 * the client's address, signed with a key derived from JWT_SECRET, which every node of a
 * deployment shares already (tokens must verify on each). Only a node can sign, so a client
 * cannot pose as a forwarding node to choose the address its rate limits are counted under, or
 * to make a standby pass a request on again.
 */
export const FORWARDED_FOR_HEADER = 'x-reviews-api-forwarded-for';
export const FORWARD_SIGNATURE_HEADER = 'x-reviews-api-forward-signature';
/** A signature older (or further ahead, clocks differ) than this is refused: a copied one is soon useless. */
const SIGNATURE_LIFETIME_MS = 30_000;

/**
 * How long the primary may take to start answering a forwarded request: less than a load
 * balancer's read timeout (deploy/: 3 s), so that a frozen primary costs the forwarding node a
 * quick answer of its own, never a timeout for which the balancer takes the standby out too.
 */
const ANSWER_WITHIN_MS = 2500;

/** Kept open between requests: a standby forwards every write it receives. */
const toNodes = new Agent({ keepAlive: true, maxSockets: 256 });

export type ForwardCheck =
  | { kind: 'client' }
  | { kind: 'forwarded'; address: string }
  | { kind: 'forged'; why: string };

export class NodeForwarding {
  readonly #key: Buffer;
  /** Requests waiting for a node's answer, by its URL. */
  readonly #waiting = new Map<string, Set<ClientRequest>>();

  constructor(jwtSecret: string) {
    this.#key = createHmac('sha256', jwtSecret).update('reviews-api: forwarding between nodes').digest();
  }

  #sign(at: string, address: string, req: IncomingMessage) {
    return createHmac('sha256', this.#key).update(`${at}\n${address}\n${req.method} ${req.url}`).digest('hex');
  }

  /**
   * Whether `req` came from a client, or from another node with its client's address. A request
   * carrying either header without a valid signature is forged. The headers are removed.
   */
  check(req: IncomingMessage, now = Date.now()): ForwardCheck {
    const address = req.headers[FORWARDED_FOR_HEADER];
    const signature = req.headers[FORWARD_SIGNATURE_HEADER];
    if (address === undefined && signature === undefined) return { kind: 'client' };
    delete req.headers[FORWARDED_FOR_HEADER];
    delete req.headers[FORWARD_SIGNATURE_HEADER];
    if (typeof address !== 'string' || typeof signature !== 'string') {
      return { kind: 'forged', why: 'a forwarding header without its pair' };
    }
    const [at = '', mac = ''] = signature.split('.', 2);
    if (!/^\d{1,15}$/.test(at) || Math.abs(now - Number(at)) > SIGNATURE_LIFETIME_MS) {
      return { kind: 'forged', why: 'the forwarding signature is expired or malformed' };
    }
    const expected = Buffer.from(this.#sign(at, address, req), 'hex');
    const given = Buffer.from(mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { kind: 'forged', why: 'the forwarding signature does not verify' };
    }
    return { kind: 'forwarded', address };
  }

  /** The headers that say `req` comes from a node, for the client at `address`, signed at `at`. */
  forHeaders(req: IncomingMessage, address: string, at = Date.now()): Record<string, string> {
    const time = String(at);
    return { [FORWARDED_FOR_HEADER]: address, [FORWARD_SIGNATURE_HEADER]: `${time}.${this.#sign(time, address, req)}` };
  }

  /**
   * `req` handed to the node at `url`, signed, exactly once; its answer returned unchanged. A
   * primary that breaks off (or does not answer in time) after the request may have reached it:
   * a read is answered READ_ONLY (nothing was written: try again), a write 502 (maybe written).
   */
  forward(req: IncomingMessage, res: ServerResponse, url: string, alreadyRead: Buffer[], write: boolean): void {
    const upstream = forwardRequest(req, res, this.#nodeAt(url), { alreadyRead, write });
    const waiting = this.#waiting.get(url) ?? new Set();
    this.#waiting.set(url, waiting.add(upstream));
    upstream.once('close', () => {
      waiting.delete(upstream);
      if (waiting.size === 0 && this.#waiting.get(url) === waiting) this.#waiting.delete(url);
    });
  }

  /**
   * The lease left the node at `url`: the requests still waiting for its answer are answered
   * now as broken off, instead of after ANSWER_WITHIN_MS, so their clients retry on the new
   * primary at once (a frozen primary's writes were a whole freeze's wait, a third of its RTO).
   * The answer is the deadline's (502 for a write: maybe done), only sooner; a former primary
   * that wakes refuses them (its lease is gone), and a write it ran before the freeze reached the
   * replica, where the retry's idempotencyKey finds it, or was never acknowledged.
   */
  abandon(url: string): void {
    const waiting = this.#waiting.get(url);
    this.#waiting.delete(url);
    for (const upstream of waiting ?? []) upstream.destroy(new Error(`the lease left ${url}`));
  }

  /** The lease holder as a target of the one forwarding mechanism (src/http/forward.ts). */
  #nodeAt(url: string): ForwardTarget {
    return {
      name: `the primary at ${url}`,
      address: { url },
      agent: toNodes,
      clientHeaders: (req) => this.forHeaders(req, req.socket.remoteAddress ?? ''),
      answerWithinMs: ANSWER_WITHIN_MS,
      outcomeUnknownOnBreak: true,
    };
  }
}

/** The forwarded request's client as the one this node sees: rate limits and logs count it. */
export function asClient(req: IncomingMessage, address: string): void {
  // A keep-alive socket carries one request at a time: this request's client, until the next.
  Object.defineProperty(req.socket, 'remoteAddress', { value: address, configurable: true });
}

/** 403 for a request that claims to come from another node and does not. */
export function refuseForged(res: ServerResponse, why: string): void {
  sendRefusal(res, ErrorCode.FORBIDDEN, `Refused: ${why}`);
}
