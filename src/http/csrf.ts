import type { Plugin } from 'graphql-yoga';
import { ErrorCode, refusal } from '../errors.ts';

/**
 * Headers that mark a request as sent by a script, not by a cross-site form or link: the ones
 * Apollo Server accepts (Apollo Client and urql users set `apollo-require-preflight`; Apollo's
 * own clients send `x-apollo-operation-name`) and Yoga's own.
 */
export const CSRF_HEADERS = ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name'];

/** The content types a browser may POST cross-site without asking first (CORS-simple). */
const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * A browser sends a cross-site GET, or a POST with one of the three CORS-simple content types,
 * without a preflight. Such a request must carry one of CSRF_HEADERS, or a content type
 * (application/json, …) that is not simple: either forces the browser to ask first, and CORS
 * refuses other origins. Any value passes, an empty one too: setting a custom header at all is
 * what a cross-site page cannot do without that preflight. The one rule of /graphql, asked by
 * the plugin below and by the fast lane (src/http/fast-lane.ts).
 */
export function wasPreflighted(contentType: string | null | undefined, has: (header: string) => boolean): boolean {
  if (contentType) {
    const lower = contentType.toLowerCase();
    if (!SIMPLE_CONTENT_TYPES.some((simple) => lower.startsWith(simple))) return true;
  }
  return CSRF_HEADERS.some(has);
}

/** Refuses, with 403 before the body is parsed, what wasPreflighted does not admit. */
export function useCsrfPrevention(): Plugin {
  return {
    onRequestParse({ request }) {
      if (wasPreflighted(request.headers.get('content-type'), (header) => request.headers.has(header))) return;
      throw refusal(ErrorCode.CSRF_HEADER_REQUIRED, 'Required CSRF header(s) not present');
    },
  };
}
