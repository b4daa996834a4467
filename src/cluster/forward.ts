import { Agent, type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { ErrorCode, httpStatusOf } from '../errors.ts';
import { CLIENT_ADDRESS_HEADER } from './role.ts';

/** Kept open between requests: a read worker hands over every mutation it receives. */
export const toWriter = new Agent({ keepAlive: true, maxSockets: 256 });

/** Per connection, not per request: never copied from one hop to the next. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/** Where a request is handed: the writer of this host over its unix socket, or another node over HTTP. */
export type ForwardTarget = { socketPath: string } | { url: string; agent: Agent };

/**
 * Hands a request to the writer over its unix socket (the local machine, not the network) and
 * sends back its answer as it came: status, headers and body, streamed (subscriptions too).
 * `alreadyRead`: the part of the body the caller read to decide; the rest is piped after it.
 */
export function forwardToWriter(
  req: IncomingMessage,
  res: ServerResponse,
  socketPath: string,
  alreadyRead: Buffer[] = [],
): void {
  // The writer counts mutations per client address; over the socket it would see none.
  forwardRequest(
    req,
    res,
    { socketPath },
    { alreadyRead, headers: { [CLIENT_ADDRESS_HEADER]: req.socket.remoteAddress ?? '' } },
  );
}

export interface ForwardOptions {
  alreadyRead?: Buffer[];
  /** Added to the client's headers (the hop's own: the client address, a signature). */
  headers?: Record<string, string>;
  /** Answers the client when the request could not be sent to the target (nothing reached it). */
  unreachable?: (res: ServerResponse) => void;
  /** Answers the client when the target broke off after the request may have reached it. */
  brokenOff?: (res: ServerResponse) => void;
  /** No answer's head within this long counts as broken off (a frozen target); none: no bound. */
  answerWithinMs?: number;
}

/** Errors that mean no byte of the request reached the target. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']);

/**
 * One request handed to `target` exactly once (never retried: it may have reached the target),
 * its answer sent back unchanged, streamed: the in-host and the cross-node forwarding alike.
 * Returns the request to the target: destroyed, it counts as broken off.
 */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  {
    alreadyRead = [],
    headers: added = {},
    unreachable = writerUnreachable,
    brokenOff = unreachable,
    answerWithinMs,
  }: ForwardOptions = {},
): ClientRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  Object.assign(headers, added);
  const where =
    'socketPath' in target
      ? { socketPath: target.socketPath, agent: toWriter }
      : { ...urlParts(target.url), agent: target.agent };
  const upstream = request({ ...where, method: req.method, path: req.url, headers }, (answer) => {
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
  const deadline =
    answerWithinMs === undefined
      ? undefined
      : setTimeout(() => upstream.destroy(new Error(`no answer within ${answerWithinMs} ms`)), answerWithinMs);
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    clearTimeout(deadline);
    if (res.headersSent) res.destroy();
    else if (NOT_SENT.has(error.code ?? '')) unreachable(res);
    else brokenOff(res);
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

/** READ_ONLY with 503, as a node that may not write says it, so a load balancer moves on. */
export function writerUnreachable(res: ServerResponse): void {
  const body = JSON.stringify({
    errors: [
      {
        message: 'This node does not accept requests now: the writer of this host is not running',
        extensions: { code: ErrorCode.READ_ONLY },
      },
    ],
  });
  res.writeHead(httpStatusOf.READ_ONLY, { 'content-type': 'application/json', 'retry-after': '1' }).end(body);
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
