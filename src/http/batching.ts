import { createGraphQLError, type Plugin } from 'graphql-yoga';

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
        throw createGraphQLError('A batch needs at least one operation', {
          extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
        });
      },
    }),
  };
}
