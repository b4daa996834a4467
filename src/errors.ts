import { GraphQLError } from 'graphql';

/** Every `extensions.code` a client may see from this service (README "Errors"). */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  READ_ONLY: 'READ_ONLY',
  NOT_REPLICATED: 'NOT_REPLICATED',
  RATE_LIMITED: 'RATE_LIMITED',
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
};

/** A client-facing error: passes Yoga's masking because it is a GraphQLError. */
export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export function orNotFound<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw clientError(ErrorCode.NOT_FOUND, `${what} not found`);
  return row;
}
