import { filterSchema } from '@graphql-tools/utils';
import { useSofa } from '@graphql-yoga/plugin-sofa';
import { GraphQLError, GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Authentication } from '../auth.ts';
import { ErrorCode, httpOf, isErrorCode, refusalResponse } from '../errors.ts';
import { type RestRoute, restRoutesOf } from '../schema/extensions.ts';
import { schema } from '../schema/index.ts';
import { bodyLengthRefusal, readAtMost, TOO_LARGE } from './body-limit.ts';
import { withoutSuggestions } from './input-errors.ts';
import { restDocument } from './openapi.ts';
import { serveRestDocs } from './rest-docs.ts';
import { GRAPHQL_PATH, OPENAPI_PATH, REST_BASE, REST_DOCS_PATH } from './routes.ts';

type SofaErrorHandler = NonNullable<Parameters<typeof useSofa>[0]['errorHandler']>;

/**
 * Every REST route, by the GraphQL root field it runs, as the fields declare them (restRoute in
 * src/schema/). Nothing else under /api reaches SOFA: in particular not its webhook routes,
 * which would make this server call any URL a client names. A mutation's body is its `input`;
 * path parameters fill the input's fields of the same name (`PATCH /reviews/:id` sets `input.id`).
 */
export const REST_ROUTES: Record<string, RestRoute> = restRoutesOf(schema);

/**
 * Fields left out of the REST representations. SOFA embeds every object it reaches (this
 * schema has none of the `things` + `thing(id)` pairs it would link by id instead), so nested
 * connections would bring every page argument of every level in as a query parameter. A
 * review's comments have their own route, a user's reviews are `GET /reviews?authorId=`, a
 * comment's review is in its path, and edges repeat `nodes`.
 */
const HIDDEN_FIELDS = new Set([
  'Review.comments',
  'User.reviews',
  'Comment.review',
  'ReviewConnection.edges',
  'CommentConnection.edges',
]);

/** The schema SOFA generates routes and the OpenAPI document from: a subset of the real one. */
export function restView(schema: GraphQLSchema): GraphQLSchema {
  const view = filterSchema({
    schema,
    rootFieldFilter: (operation, field) => `${operation}.${field}` in REST_ROUTES,
    objectFieldFilter: (type, field) => !HIDDEN_FIELDS.has(`${type}.${field}`),
  }).toConfig();
  // Subscriptions are served over SSE on /graphql; an emptied Subscription type is invalid.
  const subscription = view.subscription?.name;
  return new GraphQLSchema({
    ...view,
    subscription: null,
    types: view.types.filter((type) => type.name !== subscription),
  });
}

export interface RestOptions {
  maxBodyBytes: number;
  /** The app's own: who a bearer token names, exactly as Yoga's context reads it. */
  authenticate: (authorization: string | null) => Authentication | Promise<Authentication>;
}

/**
 * REST over the GraphQL schema through SOFA. SOFA runs each route's generated operation
 * through Yoga's own execute, so authentication, the rate limits, error masking and the
 * metrics apply as they do on /graphql. This plugin is the door in front of it: it admits
 * only the routes above, refuses a bearer token that is not valid with 401 (as REST clients
 * expect, on reads too: GraphQL reads such a request as anonymous), turns a REST body into
 * the mutation's `input`, answers a missing resource with 404, and serves the OpenAPI
 * document and its browsable page.
 */
export function useRest({ maxBodyBytes, authenticate }: RestOptions): Plugin {
  const sofa = useSofa({
    basePath: REST_BASE,
    routes: Object.fromEntries(
      Object.entries(REST_ROUTES).map(([field, { method, path, tags, responseStatus }]) => [
        field,
        { method, path, tags, responseStatus: responseStatus ?? 200 },
      ]),
    ),
    // fets types its Response more narrowly; at run time it is the global Response.
    errorHandler: restErrorResponse as SofaErrorHandler,
    openAPI: {
      info: {
        title: 'Reviews API',
        version: '1',
        description: `REST over the GraphQL schema (\`${GRAPHQL_PATH}\`). Writing needs \`Authorization: Bearer <token>\`.`,
      },
    },
    // fets' own page loads Swagger UI from a CDN; ours is served from the package.
    swaggerUI: { endpoint: '' },
  });
  const matchers = Object.entries(REST_ROUTES).map(([field, route]) => ({ field, route, match: pathMatcher(route) }));
  let document: Promise<Response> | undefined;

  return {
    onYogaInit: sofa.onYogaInit,
    onSchemaChange(payload) {
      sofa.onSchemaChange?.({ ...payload, schema: restView(payload.schema) });
      document = undefined;
    },
    async onRequest(payload) {
      const { url, request, endResponse } = payload;
      if (!url.pathname.startsWith(`${REST_BASE}/`) && url.pathname !== REST_BASE) return;
      if (url.pathname.startsWith(REST_DOCS_PATH)) {
        endResponse(await serveRestDocs(url.pathname));
        return;
      }
      /** Runs SOFA on a request and hands back its response. */
      const viaSofa = async (sofaRequest: Request) => {
        let response: Response | undefined;
        await sofa.onRequest?.({ ...payload, request: sofaRequest, endResponse: (res) => (response = res) });
        return response ?? refusalResponse(ErrorCode.NOT_FOUND, 'No such route');
      };
      if (url.pathname === OPENAPI_PATH && request.method === 'GET') {
        document ??= viaSofa(request).then(async (res) =>
          Response.json(restDocument(await res.json(), REST_ROUTES, restView(schema))),
        );
        endResponse((await document).clone());
        return;
      }
      const matched = matchers
        .filter(({ route }) => route.method === request.method)
        .map((m) => ({ ...m, params: m.match(url.pathname) }))
        .find((m) => m.params !== null);
      if (!matched?.params) {
        endResponse(refusalResponse(ErrorCode.NOT_FOUND, `No route ${request.method} ${url.pathname}`));
        return;
      }
      const auth = await authenticate(request.headers.get('authorization'));
      if (auth.kind === 'invalid') {
        endResponse(refusalResponse(ErrorCode.UNAUTHENTICATED, `Not signed in: ${auth.reason}`));
        return;
      }
      if (matched.field.startsWith('Query.')) {
        const response = await viaSofa(request);
        endResponse(await notFoundIfNull(response, Object.keys(matched.params).length > 0));
        return;
      }
      const input = await mutationInput(request, matched.params, maxBodyBytes);
      if (input instanceof Response) {
        endResponse(input);
        return;
      }
      const headers = new Headers(request.headers);
      headers.set('content-type', 'application/json');
      headers.delete('content-length');
      endResponse(
        await viaSofa(new Request(request.url, { method: request.method, headers, body: JSON.stringify({ input }) })),
      );
    },
  };
}

/** `/reviews/:id` as a matcher returning the decoded parameters, or null. */
function pathMatcher({ path }: RestRoute) {
  const names: string[] = [];
  const pattern = path.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const regex = new RegExp(`^${REST_BASE}${pattern}/?$`);
  return (pathname: string): Record<string, string> | null => {
    const found = regex.exec(pathname);
    if (!found) return null;
    try {
      return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1] ?? '')]));
    } catch {
      return null; // a malformed %-escape names no resource
    }
  };
}

/** A mutation's `input`: the JSON body (optional for DELETE) with the path parameters over it. */
async function mutationInput(request: Request, params: Record<string, string>, maxBodyBytes: number) {
  const refused = bodyLengthRefusal(request.headers.get('content-length'), maxBodyBytes);
  if (refused) return refusalResponse(refused.code, refused.message);
  const bytes = await readAtMost(request, maxBodyBytes);
  if (!bytes) return refusalResponse(TOO_LARGE.code, TOO_LARGE.message);
  const text = new TextDecoder().decode(bytes);
  if (!text) return { ...params };
  if (!request.headers.get('content-type')?.startsWith('application/json')) {
    return refusalResponse(ErrorCode.BAD_REQUEST, 'Send the body as application/json', 415);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return refusalResponse(ErrorCode.BAD_REQUEST, 'The body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return refusalResponse(ErrorCode.BAD_REQUEST, 'The body must be a JSON object');
  }
  return { ...body, ...params };
}

/** A resource named in the path that does not exist is a 404, not a 200 with `null`. */
async function notFoundIfNull(response: Response, namesResource: boolean): Promise<Response> {
  if (!namesResource || response.status !== 200) return response;
  const text = await response.text();
  if (text === 'null') return refusalResponse(ErrorCode.NOT_FOUND, 'Not found');
  return new Response(text, { status: response.status, headers: response.headers });
}

/**
 * GraphQL errors as one HTTP status: the error's own `extensions.http` if it set one (the
 * rate limiter does, with Retry-After), else the status of its code (src/errors.ts). An error
 * without a code is the request's fault when it came before execution (a variable of the
 * wrong type: no path), else an unexpected, masked failure. The worst status wins.
 */
export function restErrorResponse(errors: readonly unknown[]): Response {
  let status = 0;
  const headers = new Headers({ 'content-type': 'application/json; charset=utf-8' });
  const body = errors.map((raw) => {
    const error = raw instanceof GraphQLError ? raw : new GraphQLError(String(raw));
    const { http, ...extensions } = error.extensions as { http?: HttpExtension; code?: unknown };
    // A query parameter SOFA could not coerce (`?first=abc`) fails before execution, codeless.
    if (extensions.code === undefined && error.path === undefined) extensions.code = ErrorCode.BAD_USER_INPUT;
    status = Math.max(status, http?.status ?? statusOfCode(extensions.code, error.path !== undefined));
    for (const [name, value] of Object.entries(http?.headers ?? {})) headers.set(name, value);
    return { message: withoutSuggestions(error.message), ...(error.path && { path: error.path }), extensions };
  });
  return new Response(JSON.stringify({ errors: body }), { status: status || 500, headers });
}

interface HttpExtension {
  status?: number;
  headers?: Record<string, string>;
}

function statusOfCode(code: unknown, duringExecution: boolean): number {
  if (isErrorCode(code)) return httpOf(code).status;
  // Yoga's plugins' own codes (PERSISTED_QUERY_NOT_FOUND, …) are refusals too.
  if (typeof code === 'string') return 400;
  return duringExecution ? 500 : 400;
}
