import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { type MaskError, maskError as yogaMaskError } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';

/**
 * Yoga's masking, plus one rule: Pothos refuses malformed input (a global id that does not
 * decode, or names another type) with an error that has no code. That is the client's mistake,
 * so it goes out as BAD_USER_INPUT. Everything unexpected is still masked and logged by Yoga;
 * outside development `extensions.originalError` says no more than its name (not the body quoted).
 */
export const maskError: MaskError = (error, message, isDev) => {
  if (!isDev && error instanceof GraphQLError) {
    const { originalError } = error.extensions;
    if (typeof originalError === 'object' && originalError !== null && 'message' in originalError) {
      // Yoga puts the JSON parser's message there, which quotes the body; its name stays (with it
      // Yoga answers 400, as the GraphQL-over-HTTP spec asks for a body that is not JSON).
      Object.assign(error.extensions, { originalError: { name: (originalError as { name?: unknown }).name } });
    }
  }
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (error instanceof GraphQLError && original instanceof PothosValidationError && !error.extensions.code) {
    // The same error, coded in place: Yoga logs every error its mask replaces as a failure.
    Object.assign(error.extensions, { code: ErrorCode.BAD_USER_INPUT });
    return error;
  }
  return yogaMaskError(error, message, isDev);
};
