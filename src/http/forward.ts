import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { ErrorCode, sendRefusal } from '../errors.ts';

/** Per connection, not per request: never copied from one hop to the next. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/**
 * Where a request is handed, and all that differs between the two hops, as data: the writer of
 * this host over its unix socket (a read worker's hop, src/cluster/forward.ts), or the lease holder over HTTP (a
 * standby's, src/failover/forwarding.ts). Everything else is one mechanism: forwardRequest.
 */
export interface ForwardTarget {
  /** Who answers, as a READ_ONLY answer names it when it could not. */
  name: string;
  /** A unix socket, or a node's URL. */
  address: { socketPath: string } | { url: string };
  agent: Agent;
  /**
   * The hop's own headers, which say who the client is: over the socket its address as it is
   * (only this host's processes can reach the socket), between nodes signed.
   */
  clientHeaders: (req: IncomingMessage) => Record<string, string>;
  /** No answer's head within this long counts as broken off (a frozen target); none: no bound. */
  answerWithinMs?: number;
  /**
   * A write broken off after it may have reached the target is answered 502 (maybe written),
   * not READ_ONLY (nothing written: try again), when the target may have written it and gone
   * on: another node. The writer of this host takes every process down with it when it dies.
   */
  outcomeUnknownOnBreak: boolean;
}

/** Errors that mean no byte of the request reached the target. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']);

/**
 * One request handed to `target` exactly once (never retried: it may have reached the target),
 * with its body (`alreadyRead` first, the rest piped), its headers but the hop-by-hop ones, and
 * the hop's client headers; its answer sent back unchanged, streamed (subscriptions too). A
 * target that cannot be reached gets READ_ONLY 503 + Retry-After, as a node that may not write.
 */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  { alreadyRead = [], write = false }: { alreadyRead?: Buffer[]; write?: boolean } = {},
): ClientRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  Object.assign(headers, target.clientHeaders(req));
  const where = 'socketPath' in target.address ? target.address : urlParts(target.address.url);
  const upstream = request({ ...where, agent: target.agent, method: req.method, path: req.url, headers }, (answer) => {
    clearTimeout(deadline);
    const raw = answer.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if (!HOP_BY_HOP.has((raw[i] as string).toLowerCase())) kept.push(raw[i] as string, raw[i + 1] as string);
    }
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, kept);
    answer.pipe(res);
  });
  // Only the head is bounded: a subscription's stream may then be quiet for as long as it likes.
  const { answerWithinMs } = target;
  const deadline =
    answerWithinMs === undefined
      ? undefined
      : setTimeout(() => upstream.destroy(new Error(`no answer within ${answerWithinMs} ms`)), answerWithinMs);
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    clearTimeout(deadline);
    if (res.headersSent) res.destroy();
    else if (NOT_SENT.has(error.code ?? '')) readOnly(res, `${target.name} did not answer`);
    else if (write && target.outcomeUnknownOnBreak) outcomeUnknown(res, target.name);
    else readOnly(res, `${target.name} broke off`);
  });
  // The client gave up: so does the target's request (a subscription ends there too).
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  for (const chunk of alreadyRead) upstream.write(chunk);
  if (req.readableEnded) upstream.end();
  else req.pipe(upstream);
  return upstream;
}

function urlParts(url: string) {
  const parsed = new URL(url);
  return { protocol: parsed.protocol, hostname: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port };
}

/** 503 READ_ONLY + Retry-After without touching GraphQL, so a client (or a balancer) tries again. */
export function readOnly(res: ServerResponse, reason: string): void {
  sendRefusal(res, ErrorCode.READ_ONLY, `This node does not accept requests now: ${reason}`);
}

/**
 * 502: the target broke off after the request may have reached it. Not READ_ONLY (something
 * may have been written) and never retried here: the client decides, with its idempotencyKey.
 */
function outcomeUnknown(res: ServerResponse, name: string): void {
  const message = `${name[0]?.toUpperCase()}${name.slice(1)} broke off before answering: the request may or may not have been done; retry with the same idempotencyKey`;
  res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message }] }));
}

/**
 * Reads a body until its end or until it passes `limit` bytes. A stream stopped at the limit
 * is only paused: what is left can still be piped on.
 */
export function readUpTo(req: IncomingMessage, limit: number): Promise<{ chunks: Buffer[]; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (complete: boolean) => {
      req.off('data', onData).off('end', onEnd).off('error', reject);
      resolve({ chunks, complete });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total > limit) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    req.on('data', onData).on('end', onEnd).on('error', reject);
  });
}

/**
 * True only for a GraphQL request a read worker may answer itself: a JSON body whose document
 * does not contain the word `mutation`, so no operation of it can be one. Anything else (a
 * mutation, a query that merely names the word, a form-encoded body, a persisted operation
 * without its text) goes to the writer, which answers everything correctly. The document is
 * not parsed here: the writer parses every mutation anyway, and parsing it twice cost the
 * forwarded write a second GraphQL parse.
 */
export function isSurelyRead(body: Buffer): boolean {
  let params: unknown;
  try {
    params = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  if (typeof params !== 'object' || params === null) return false;
  const { query } = params as { query?: unknown };
  return typeof query === 'string' && !query.includes('mutation');
}
