import { createHash } from 'node:crypto';
import { Kind, parse, visit } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';

export type HttpCacheConfig = Pick<Config, 'httpCache' | 'httpCacheMaxAge' | 'httpCacheStaleWhileRevalidate'>;

/** What a shared cache must never keep: anything tied to a token, mutations, errors. */
export const NOT_SHARED = 'private, no-store';

/**
 * Fields whose answer depends on who asks. Matched by name anywhere in a document, so a
 * fragment or an alias cannot hide one; no other type has a field of these names.
 */
const PER_VIEWER_FIELDS = new Set(['viewer']);

/** Documents whose per-viewer verdict is remembered, by text: a page sends the same few. */
const MAX_REMEMBERED_DOCUMENTS = 1000;

/** The answer's representation differs by media type; a token holder gets a private one. */
const VARY = 'Accept, Authorization';

interface Answered {
  query: string | undefined;
  /** One JSON result without errors (not a stream, not a refusal). */
  succeeded: boolean;
}

/** What decides whether an answer may be shared: the request and the answer. */
export interface CacheFacts extends Answered {
  method: string;
  authorized: boolean;
  status: number;
  contentType: string | null;
}

/**
 * The rule: an anonymous GET query whose answer is the same for everyone (no per-viewer field,
 * no Authorization header, no errors) may be shared. Asked by useHttpCache; the lanes take only
 * POSTs, whose answers are never shared (NOT_SHARED, request-rules.ts).
 */
export function httpCacheRule(config: HttpCacheConfig) {
  const perViewer = new Map<string, boolean>();

  function asksPerViewer(query: string): boolean {
    let verdict = perViewer.get(query);
    if (verdict === undefined) {
      verdict = touchesPerViewerField(query);
      if (perViewer.size >= MAX_REMEMBERED_DOCUMENTS) perViewer.clear();
      perViewer.set(query, verdict);
    }
    return verdict;
  }

  return {
    isShareable: (facts: CacheFacts): boolean =>
      config.httpCache &&
      facts.method === 'GET' &&
      !facts.authorized &&
      facts.status === 200 &&
      facts.succeeded &&
      facts.query !== undefined &&
      isJson(facts.contentType) &&
      !asksPerViewer(facts.query),
  };
}

export type HttpCacheRule = ReturnType<typeof httpCacheRule>;

/**
 * HTTP caching of public reads on the GraphQL endpoint. An anonymous GET query whose answer is
 * the same for everyone (no per-viewer field, no Authorization header, no errors) answers with
 * `Cache-Control: public, max-age, stale-while-revalidate`, an ETag of its body, and 304 to a
 * matching If-None-Match; every other answer Yoga gives, on any path (REST too), is
 * `private, no-store`.
 *
 * Computed from the final response, so it holds whichever path produced the body (execution,
 * RESPONSE_CACHE, a compiled plan). The ETag is a hash of the bytes sent, never a cache key: a
 * write that changes an answer changes its ETag, so a client's old ETag cannot earn a 304 for
 * new data. The response cache's own ETag (its cache key, which stays the same across writes)
 * and Last-Modified are removed; its 304 shortcut answers only an If-None-Match equal to a bare
 * cache key, which no response from here carries (ours are quoted).
 */
export function useHttpCache(config: HttpCacheConfig, rule: HttpCacheRule = httpCacheRule(config)): Plugin {
  const shared = `public, max-age=${config.httpCacheMaxAge}, stale-while-revalidate=${config.httpCacheStaleWhileRevalidate}`;
  const answered = new WeakMap<Request, Answered>();

  function isShareable(request: Request, response: Response): boolean {
    const answer = answered.get(request);
    return (
      answer !== undefined &&
      rule.isShareable({
        ...answer,
        method: request.method,
        authorized: request.headers.has('authorization'),
        status: response.status,
        contentType: response.headers.get('content-type'),
      })
    );
  }

  return {
    // After APQ and trusted documents have put the document text in place.
    onParams({ request, params }) {
      answered.set(request, { query: params.query, succeeded: false });
    },
    // Every result comes through here: executed, from the response cache or from a plan.
    onExecutionResult({ request, result }) {
      const answer = answered.get(request);
      if (!answer || !result) return;
      answer.succeeded = !(Symbol.asyncIterator in result) && !result.errors?.length;
    },
    // Every answer Yoga gives, whatever the path (`/graphql/`, `//graphql`, REST, /health):
    // only a GraphQL GET that passed the rule is shared, everything else is private.
    async onResponse({ request, response, setResponse, fetchAPI }) {
      if (!isShareable(request, response)) {
        // In place, as most answers go (every POST): nothing to rebuild for a private one.
        response.headers.delete('etag');
        response.headers.delete('last-modified');
        response.headers.set('cache-control', NOT_SHARED);
        return;
      }
      const headers = new fetchAPI.Headers();
      // One by one, in lower case: names come as Yoga spelled them (`Content-Type`, `ETag`), and a
      // new Response that did not find `content-type` added text/plain beside it.
      response.headers.forEach((value, name) => {
        const lower = name.toLowerCase();
        if (lower !== 'etag' && lower !== 'last-modified') headers.set(lower, value);
      });
      const body = await response.text();
      const etag = entityTag(headers.get('content-type'), body);
      headers.set('cache-control', shared);
      headers.set('etag', etag);
      headers.set('vary', VARY);
      if (matchesAny(request.headers.get('if-none-match'), etag)) {
        const validators = ['cache-control', 'etag', 'vary'].map((name) => [name, headers.get(name) as string]);
        setResponse(new fetchAPI.Response(null, { status: 304, headers: Object.fromEntries(validators) }));
        return;
      }
      setResponse(new fetchAPI.Response(body, { status: 200, headers }));
    },
  };
}

function touchesPerViewerField(query: string): boolean {
  let found = false;
  try {
    visit(parse(query), {
      [Kind.FIELD](field) {
        if (PER_VIEWER_FIELDS.has(field.name.value)) found = true;
      },
    });
  } catch {
    // It ran, so it parsed; should it not, it is not shared.
    return true;
  }
  return found;
}

function isJson(contentType: string | null): boolean {
  return contentType !== null && /^application\/(graphql-response\+)?json\b/i.test(contentType);
}

/** Strong: the media type and the exact bytes. SHA-1 is ample for telling versions apart. */
function entityTag(contentType: string | null, body: string): string {
  return `"${createHash('sha1').update(`${contentType}\n`).update(body).digest('base64url')}"`;
}

/** If-None-Match: `*`, or a list of tags compared weakly (a `W/` prefix is ignored). */
function matchesAny(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}
