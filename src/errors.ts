import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';

/** Every `extensions.code` a client may see from this service (docs/api.md, "Errors"). */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  READ_ONLY: 'READ_ONLY',
  NOT_REPLICATED: 'NOT_REPLICATED',
  RATE_LIMITED: 'RATE_LIMITED',
  /** A request a browser could send cross-site without a preflight (src/http/csrf.ts). */
  CSRF_HEADER_REQUIRED: 'CSRF_HEADER_REQUIRED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status each code maps to where a transport needs one (REST, rate limits). */
export const httpStatusOf: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  READ_ONLY: 503,
  NOT_REPLICATED: 503,
  RATE_LIMITED: 429,
  CSRF_HEADER_REQUIRED: 403,
};

/** How soon a client may try again after each refusal that is about the node, not the request. */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { READ_ONLY: 1, NOT_REPLICATED: 1, RATE_LIMITED: 1 };

/**
 * The status and headers of an answer that refuses the whole request with `code`, on GraphQL,
 * REST and plain HTTP alike: READ_ONLY and NOT_REPLICATED are 503 (nothing was done here, so a
 * load balancer or client may go elsewhere), RATE_LIMITED 429, each with `Retry-After`.
 */
export function httpOf(code: ErrorCode, retryAfterSeconds = RETRY_AFTER_SECONDS[code]) {
  return {
    status: httpStatusOf[code],
    ...(retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  };
}

/** A refusal's body where a request is refused on plain HTTP, before GraphQL runs: Yoga's shape. */
export function refusalBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/** Refuses the whole request on plain HTTP: the status, `Retry-After` and body `code` calls for. */
export function sendRefusal(res: ServerResponse, code: ErrorCode, message: string): void {
  const { status, headers } = httpOf(code);
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(refusalBody(code, message));
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
