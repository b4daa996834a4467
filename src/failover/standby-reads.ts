import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Config } from '../config.ts';
import { ErrorCode, sendRefusal } from '../errors.ts';
import { TOO_LARGE } from '../http/body-limit.ts';
import { isSurelyRead, readUpTo } from '../http/forward.ts';
import { STREAM_TOKEN_HEADER } from '../http/graphql-sse.ts';
import { GRAPHQL_PATH } from '../http/routes.ts';
import { type WritePosition, wantedPosition } from './positions.ts';

/**
 * The settings of an app that answers from followed data, in every process of a standby: no
 * response cache, which a mutation on the primary's host cannot invalidate here and whose key
 * knows no position: it kept answers up to a minute old, past STANDBY_MAX_LAG and a read's own
 * write.
 */
export const followedDataConfig = (config: Config): Config => ({ ...config, responseCache: false });

/** Methods that never write: answered as reads on every node. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What a standby's process reads from: the writer's FollowedReads, or a read worker's copy of its state. */
export interface StandbyData {
  /** How old the served data is, in ms (null: nothing served). */
  lagMs(): number | null;
  /** Resolves true once the served data includes `wanted`, false after `ms` (0: answers at once). */
  waitFor(wanted: WritePosition, ms: number): Promise<boolean>;
}

export interface StandbyRules {
  maxBodyBytes: number;
  /** STANDBY_MAX_LAG: older data answers nothing itself. */
  maxLagMs: number;
  /** How long a read naming a write waits here for it before it is handed on. */
  positionWaitMs: number;
}

/**
 * How every process of a standby host answers a request, the writer and each read worker
 * alike: a write or a subscription is handed on (`handOn`: the writer hands it to the lease
 * holder, a read worker to its writer); a read is answered `here` from the served data while it
 * is at most STANDBY_MAX_LAG old and, when it names a write's position, once that data holds
 * the write (waiting up to `positionWaitMs`); otherwise it is handed on too. A position header
 * that is no position is refused with 400 before anything runs.
 */
export async function answerOnStandby(
  request: IncomingMessage,
  response: ServerResponse,
  data: StandbyData | null,
  rules: StandbyRules,
  here: RequestListener,
  handOn: (chunks: Buffer[], write: boolean) => void,
): Promise<void> {
  const { write, chunks } = await classify(request, rules.maxBodyBytes);
  if (write || subscribes(request, chunks)) return handOn(chunks, write);
  const wanted = wantedPosition(request);
  if (wanted && 'malformed' in wanted) return badPosition(response, wanted.malformed);
  const lag = data?.lagMs() ?? null;
  const fresh = data !== null && lag !== null && lag <= rules.maxLagMs;
  if (fresh && (!wanted || (await data.waitFor(wanted.position, rules.positionWaitMs)))) {
    return here(request, response);
  }
  handOn(chunks, false);
}

export const pathOf = (request: IncomingMessage) => (request.url ?? '/').split('?')[0] as string;

/**
 * Whether a request may write, decided without parsing GraphQL: any method but GET, HEAD and
 * OPTIONS, except a GraphQL POST whose JSON document never says `mutation` (a read worker's
 * rule). The body read to decide is handed on with the request.
 */
export async function classify(
  request: IncomingMessage,
  maxBodyBytes: number,
): Promise<{ write: boolean; chunks: Buffer[]; complete: boolean }> {
  const method = request.method ?? 'GET';
  if (SAFE_METHODS.has(method)) return { write: false, chunks: [], complete: true };
  if (method !== 'POST' || !pathOf(request).startsWith(GRAPHQL_PATH))
    return { write: true, chunks: [], complete: true };
  const { chunks, complete } = await readUpTo(request, maxBodyBytes);
  const body = Buffer.concat(chunks);
  // Yoga's Node adapter (and the fast lane) take a body already read from `req.body`.
  if (complete) (request as IncomingMessage & { body?: Buffer }).body = body;
  return { write: !(complete && isSurelyRead(body)), chunks, complete };
}

/**
 * Whether a request may subscribe, decided as writes are, without parsing GraphQL: its document
 * (in the body, or a GET's `query`) says `subscription`, or it runs under a graphql-sse
 * reservation (its token). A subscription's events are published where mutations run, and the
 * reservations live there too: on the primary. Not by `accept: text/event-stream`, which
 * clients such as urql send with every query (for @defer over SSE).
 */
function subscribes(request: IncomingMessage, chunks: Buffer[]): boolean {
  if (STREAM_TOKEN_HEADER in request.headers) return true;
  const query = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('query') ?? '';
  return query.includes('subscription') || Buffer.concat(chunks).includes('subscription');
}

/** A body past MAX_BODY_BYTES, found while deciding whether it writes. */
export function tooLarge(response: ServerResponse) {
  sendRefusal(response, TOO_LARGE.code, TOO_LARGE.message, { connection: 'close' });
}

/** A position header that is no position: the client's mistake, refused before anything runs. */
function badPosition(response: ServerResponse, text: string) {
  const message = `x-reviews-api-position is not a position this API gave: ${JSON.stringify(text.slice(0, 100))}`;
  sendRefusal(response, ErrorCode.BAD_USER_INPUT, message);
}
