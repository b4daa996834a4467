import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin } from 'graphql-yoga';

/**
 * Headers that mark a request as sent by a script, not by a cross-site form or link: the ones
 * Apollo Server accepts (Apollo Client and urql users set `apollo-require-preflight`; Apollo's
 * own clients send `x-apollo-operation-name`) and Yoga's own.
 */
const CSRF_HEADERS = ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * A browser sends a cross-site GET, or a POST with one of the three CORS-simple content types,
 * without a preflight. Such a request must carry one of CSRF_HEADERS, or a content type
 * (application/json, …) that is not simple: either forces the browser to ask first, and CORS
 * refuses other origins. Any value passes, an empty one too: setting a custom header at all is
 * what a cross-site page cannot do without that preflight.
 */
export function useCsrfPrevention(): Plugin {
  return useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
}
