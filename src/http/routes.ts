/**
 * Every path this service answers on, in one place: the GraphQL endpoints, the probes, the
 * metrics and the REST routes' prefix. deploy/haproxy.cfg checks READY_PATH, spelled again (it
 * cannot import this; test/unit/routes.test.ts holds them together).
 */
export const GRAPHQL_PATH = '/graphql';
/** graphql-sse's protocol, beside GRAPHQL_PATH. */
export const GRAPHQL_SSE_PATH = `${GRAPHQL_PATH}/stream`;
/** Liveness: the process answers. */
export const HEALTH_PATH = '/health';
/** Readiness: this node can serve (src/http/yoga.ts says when). */
export const READY_PATH = '/ready';
export const METRICS_PATH = '/metrics';
/** The REST routes (src/http/rest.ts), their OpenAPI document and its browsable reference. */
export const REST_BASE = '/api';
export const OPENAPI_PATH = `${REST_BASE}/openapi.json`;
export const REST_DOCS_PATH = `${REST_BASE}/docs`;
