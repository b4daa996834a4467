import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';

/**
 * Every `extensions.code` a client may see from this service (docs/api.md, "Errors"), with the
 * HTTP status of an answer it refuses whole, and how soon a client may try again where the
 * refusal is about the node, not the request (`Retry-After`, in seconds).
 */
const CODES = {
  BAD_USER_INPUT: { status: 400 },
  UNAUTHENTICATED: { status: 401 },
  FORBIDDEN: { status: 403 },
  NOT_FOUND: { status: 404 },
  CONFLICT: { status: 409 },
  /** This node may not write now (a standby, a lost lease): another node may. */
  READ_ONLY: { status: 503, retryAfterSeconds: 1 },
  /** Committed here but not known to be in the replica (DURABILITY=replicated, a fenced answer). */
  NOT_REPLICATED: { status: 503, retryAfterSeconds: 1 },
  /** The rate limits and subscription limits; the rate limiter says how long to wait itself. */
  RATE_LIMITED: { status: 429, retryAfterSeconds: 1 },
  /** A request a browser could send cross-site without a preflight (src/http/csrf.ts). */
  CSRF_HEADER_REQUIRED: { status: 403 },
  /** A document over an abuse limit, refused before it runs, or an answer past MAX_RESPONSE_BYTES. */
  QUERY_TOO_COMPLEX: { status: 400 },
  /** A query that ran past REQUEST_TIMEOUT_MS. */
  TIMEOUT: { status: 503 },
  /** A request that cannot be read: Yoga's code for it, used for the limits and REST's alike. */
  BAD_REQUEST: { status: 400 },
  /** A body past MAX_BODY_BYTES. */
  REQUEST_ENTITY_TOO_LARGE: { status: 413 },
  /** A body without a Content-Length where one is needed (graphql-sse's POST). */
  LENGTH_REQUIRED: { status: 411 },
  /** TRUSTED_DOCUMENTS=on: an id not in the manifest, no id, or a document sent as text. */
  PERSISTED_QUERY_NOT_IN_LIST: { status: 400 },
  PERSISTED_QUERY_ID_REQUIRED: { status: 400 },
  CANNOT_SEND_PQ_ID_AND_BODY: { status: 400 },
  /** Yoga's own, for documents it cannot parse or validate; named here where they are counted. */
  GRAPHQL_PARSE_FAILED: { status: 400 },
  GRAPHQL_VALIDATION_FAILED: { status: 400 },
} satisfies Record<string, { status: number; retryAfterSeconds?: number }>;

export type ErrorCode = keyof typeof CODES;

/** Each code by its name, so a code is written as `ErrorCode.X` and checked by the compiler. */
export const ErrorCode = Object.fromEntries(Object.keys(CODES).map((code) => [code, code])) as {
  readonly [C in ErrorCode]: C;
};

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(CODES, code);

/**
 * The status and headers of an answer that refuses the whole request with `code`, on GraphQL,
 * REST and plain HTTP alike, with `Retry-After` where the code has one (or the caller knows
 * better: the rate limiter's own wait).
 */
export function httpOf(code: ErrorCode, retryAfterSeconds?: number) {
  const declared: { status: number; retryAfterSeconds?: number } = CODES[code];
  const retry = retryAfterSeconds ?? declared.retryAfterSeconds;
  return {
    status: declared.status,
    ...(retry !== undefined && { headers: { 'Retry-After': String(retry) } }),
  };
}

/** The extensions that make an error refuse the whole answer with `code` (Yoga and REST read `http`). */
export function refusalExtensions(code: ErrorCode, retryAfterSeconds?: number) {
  return { code, http: httpOf(code, retryAfterSeconds) };
}

/** The content type of a refusal answered outside Yoga, as Yoga answers its own. */
const REFUSAL_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A refusal's body where a request is refused outside Yoga (plain HTTP, REST): Yoga's shape. */
export function refusalBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/** The status and head of a refusal answered outside Yoga. */
export function refusalHead(code: ErrorCode): { status: number; headers: Record<string, string> } {
  const { status, headers } = httpOf(code);
  return { status, headers: { 'content-type': REFUSAL_CONTENT_TYPE, ...headers } };
}

/**
 * Refuses the whole request on plain HTTP: the status, `Retry-After` and body `code` calls for;
 * `more` headers where the connection needs them (`connection: close` past an unread body).
 */
export function sendRefusal(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  more?: Record<string, string>,
): void {
  const { status, headers } = refusalHead(code);
  res.writeHead(status, { ...headers, ...more }).end(refusalBody(code, message));
}

/**
 * Refuses the whole request as a Fetch answer (REST, graphql-sse's checks). `status` only where
 * HTTP names the fault more precisely than the code: REST's 415 for a body that is not JSON.
 */
export function refusalResponse(code: ErrorCode, message: string, status?: number): Response {
  const head = refusalHead(code);
  return new Response(refusalBody(code, message), { status: status ?? head.status, headers: head.headers });
}

/**
 * An error that sets the status of the whole answer (`extensions.http`, which Yoga and the REST
 * routes read). Field errors that leave the rest of an answer standing use clientError.
 */
export function refusal(
  code: ErrorCode,
  message: string,
  { retryAfterSeconds, extensions = {} }: { retryAfterSeconds?: number; extensions?: Record<string, unknown> } = {},
) {
  return clientError(code, message, { ...extensions, http: httpOf(code, retryAfterSeconds) });
}

/** A client-facing error: passes Yoga's masking because it is a GraphQLError. */
export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export function orNotFound<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw clientError(ErrorCode.NOT_FOUND, `${what} not found`);
  return row;
}
