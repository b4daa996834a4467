import type { Plugin } from 'graphql-yoga';
import { ErrorCode, refusal } from '../errors.ts';

/**
 * The operations one batched request may carry (Apollo's BatchHttpLink, graphql-request's
 * batchRequests): each is weighed, rate limited and size limited as if sent alone, so a batch
 * costs at most this many requests. Yoga answers 413 beyond it.
 */
export const MAX_BATCH_OPERATIONS = 10;

/** A batch of no operations (`[]`) is a malformed request, not an empty answer. */
export function useNonEmptyBatches(): Plugin {
  return {
    onRequestParse: () => ({
      onRequestParseDone({ requestParserResult }) {
        if (!Array.isArray(requestParserResult) || requestParserResult.length > 0) return;
        throw refusal(ErrorCode.BAD_REQUEST, 'A batch needs at least one operation');
      },
    }),
  };
}
