import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, refusalResponse } from '../errors.ts';
import { type BodyRefusal, bodyLengthRefusal } from './body-limit.ts';
import { wasPreflighted } from './csrf.ts';
import { GRAPHQL_SSE_PATH } from './routes.ts';

/** The header naming a single-connection reservation, which graphql-sse's client sends. */
export const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';

/** Methods a browser never sends cross-site without a preflight. */
const PREFLIGHTED_METHODS = new Set(['PUT', 'DELETE']);

/**
 * The GraphQL over Server-Sent Events protocol (graphql-sse) on GRAPHQL_SSE_PATH, both its
 * modes: distinct connections, and a single connection (a `PUT` reserves a stream, `GET` opens
 * it, each operation is a `POST` under the reservation's token, `DELETE` stops one). Its handler
 * reads requests itself, around Yoga's request parsing, so the rules of that stage are asked
 * here first: CSRF as on /graphql (a `PUT` or `DELETE`, a non-simple content type, or a custom
 * header: the reservation's token counts, as any header a cross-site page cannot set without a
 * preflight), and MAX_BODY_BYTES (a body must say its length). Parsing, validation, the limits,
 * the rate limits and the subscription limits run as for /graphql: the handler executes through
 * Yoga's plugins. Off with TRUSTED_DOCUMENTS=on (request-rules.ts): the handler reads query text only.
 */
export function graphqlSsePlugins(maxBodyBytes: number): Plugin[] {
  const rules: Plugin = {
    onRequest({ request, url, endResponse }) {
      if (url.pathname !== GRAPHQL_SSE_PATH) return;
      // Answered here as /graphql answers them: this stage's errors would be 500s.
      const refuse = ({ code, message }: BodyRefusal) => endResponse(refusalResponse(code, message));
      const has = (header: string) => request.headers.has(header);
      if (
        !PREFLIGHTED_METHODS.has(request.method) &&
        !wasPreflighted(request.headers.get('content-type'), has) &&
        !has(STREAM_TOKEN_HEADER)
      ) {
        return refuse({ code: ErrorCode.CSRF_HEADER_REQUIRED, message: 'Required CSRF header(s) not present' });
      }
      if (request.method !== 'POST') return;
      const length = request.headers.get('content-length');
      const refused = length === null ? LENGTH_REQUIRED : bodyLengthRefusal(length, maxBodyBytes);
      if (refused) refuse(refused);
    },
  };
  return [rules, useGraphQLSSE({ endpoint: GRAPHQL_SSE_PATH })];
}

const LENGTH_REQUIRED: BodyRefusal = { code: ErrorCode.LENGTH_REQUIRED, message: 'A body needs a Content-Length here' };
