import type { Plugin } from 'graphql-yoga';
import { type CorsOrigins, isLoopback } from '../origins.ts';
import { CSRF_HEADERS } from './csrf.ts';
import { STREAM_TOKEN_HEADER } from './graphql-sse.ts';
import { REQUEST_ID_HEADER } from './request-log.ts';

/** Read-your-writes: the position a mutation's answer gives and a later read may send back. */
const POSITION_HEADER = 'x-reviews-api-position';

/** What the service's clients send beyond the CORS-safelisted headers. */
const ALLOWED_HEADERS = ['content-type', 'authorization', POSITION_HEADER, STREAM_TOKEN_HEADER, ...CSRF_HEADERS].join(
  ', ',
);

/** What a page's script may read of an answer beyond the CORS-safelisted headers. */
const EXPOSED_HEADERS = [POSITION_HEADER, 'retry-after', 'etag', REQUEST_ID_HEADER].join(', ');

/** GraphQL (GET, POST), graphql-sse's reservation (PUT, DELETE), REST (PATCH). */
const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';

/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = '600';

export interface CorsRule {
  /**
   * The CORS headers of an answer to a request from `origin` (its Origin header): for a listed
   * origin, that origin with credentials; for any other, none, so the browser keeps the answer
   * from the page. `Vary: Origin` always, as a shared cache must keep the two apart.
   */
  answerHeaders(origin: string | null | undefined): Record<string, string>;
  /** The same, plus what a preflight (OPTIONS) is answered: the methods and headers allowed. */
  preflightHeaders(origin: string | null | undefined): Record<string, string>;
}

/** The one CORS rule of the service, asked by Yoga (the two plugins below) and the fast lane alike. */
export function corsRule(origins: CorsOrigins): CorsRule {
  const listed = origins === 'loopback' ? isLoopback : (origin: string) => origins.includes(origin);
  const allowed = (origin: string | null | undefined): origin is string => !!origin && listed(origin);
  /** The origin let in, with credentials (cookies: the read-your-writes position). */
  const granted = (origin: string) => ({
    vary: 'Origin',
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
  });
  return {
    answerHeaders: (origin): Record<string, string> =>
      allowed(origin) ? { ...granted(origin), 'access-control-expose-headers': EXPOSED_HEADERS } : { vary: 'Origin' },
    preflightHeaders: (origin): Record<string, string> =>
      allowed(origin)
        ? {
            ...granted(origin),
            'access-control-allow-methods': ALLOWED_METHODS,
            'access-control-allow-headers': ALLOWED_HEADERS,
            'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
          }
        : { vary: 'Origin' },
  };
}

/**
 * Preflights (OPTIONS) answered 204 at once, before any other rule of Yoga's or REST's: first
 * among the plugins. Replaces Yoga's own CORS, which lets every origin in with credentials.
 */
export function usePreflight(rule: CorsRule): Plugin {
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      if (request.method !== 'OPTIONS') return;
      const headers = rule.preflightHeaders(request.headers.get('origin'));
      // Safari waits for a body on a 204 without a length.
      endResponse(new fetchAPI.Response(null, { status: 204, headers: { ...headers, 'content-length': '0' } }));
    },
  };
}

/**
 * The rule's headers on every other answer Yoga gives (GraphQL, REST, /ready), `Vary` added to
 * what is there: last among the plugins, so they land on the answer the others settled on
 * (the HTTP cache's 304 too).
 */
export function useCorsHeaders(rule: CorsRule): Plugin {
  return {
    onResponse({ request, response }) {
      if (request.method === 'OPTIONS') return;
      const { vary, ...headers } = rule.answerHeaders(request.headers.get('origin'));
      for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
      const varied = response.headers.get('vary');
      response.headers.set('vary', varied ? `${varied}, ${vary}` : (vary as string));
    },
  };
}
