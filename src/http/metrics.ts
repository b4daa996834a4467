import { createCounter, usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { getOperationAST, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeState } from '../context.ts';
import { ErrorCode } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { REST_ROUTES } from './rest.ts';
import { METRICS_PATH } from './routes.ts';

/** Strings longer than this (error reasons, paths) stay out of labels: they would not aggregate. */
const MAX_LABEL_VALUE = 64;

/** How many distinct client-chosen operation names become labels; the rest are `other`. */
export const MAX_OPERATION_LABELS = 100;

/**
 * An operation name as a label. Names are the client's choice: 20,000 unique ones grew /metrics
 * to 33 MB. REST routes' operations are always themselves; of the rest, the first
 * MAX_OPERATION_LABELS names seen keep theirs (a deployment's own clients, in practice) and
 * any later one is `other`, so the series never grow past a fixed number.
 */
export function operationLabels(known: Iterable<string>, capacity = MAX_OPERATION_LABELS) {
  const fixed = new Set(known);
  const learned = new Set<string>();
  return (name: string | undefined): string => {
    if (name === undefined) return 'none';
    if (fixed.has(name) || learned.has(name)) return name;
    if (learned.size < capacity && name.length <= MAX_LABEL_VALUE) {
      learned.add(name);
      return name;
    }
    return 'other';
  };
}

/** The names SOFA gives the operations it runs for the REST routes (`reviews_query`). */
function restOperationNames(): string[] {
  return Object.keys(REST_ROUTES).map((field) => {
    const [type = '', name = ''] = field.split('.');
    return `${name}_${type.toLowerCase()}`;
  });
}

/** What the request log hands over once a response is out. */
export interface FinishedRequest {
  method: string;
  status: number;
  durationMs: number;
  operationName: string | undefined;
}

/**
 * /metrics in the Prometheus text format: requests and their latency by operation, errors by
 * code, the process, and the node's own figures. Yoga's Prometheus plugin sees GraphQL
 * requests only; `reviews_api_http_request_duration_seconds` counts every request, REST
 * routes included (as SOFA's operations, e.g. `reviews_query`). Each app has its own registry,
 * so a takeover's new app and the tests' many apps never register a metric twice.
 */
export function createMetrics(node: NodeState, host: Host) {
  const registry = new Registry();
  const operationLabel = operationLabels(['Anonymous', ...restOperationNames()]);
  // WORKERS > 1: /metrics is one scrape for the host, summed over its processes.
  host.shareMetrics(registry);
  collectDefaultMetrics({ register: registry });
  registerNodeGauges(registry, node);
  const requests = new Histogram({
    name: 'reviews_api_http_request_duration_seconds',
    help: 'Every HTTP request (GraphQL, REST, health), by method, GraphQL operation and status',
    labelNames: ['method', 'operation', 'status'],
    registers: [registry],
  });
  const plugin = usePrometheus({
    endpoint: METRICS_PATH,
    registry,
    skipIntrospection: true,
    // A URL label would make one series per review id.
    labels: { url: false },
    // Per-request series are ours alone (`requests` above, by operation and status): Yoga's four
    // said the same again and cost about a fifth of a small query's CPU (in-process, one run).
    metrics: {
      graphql_envelop_request: false,
      graphql_envelop_request_duration: false,
      graphql_yoga_http_duration: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      // Documents refused before they run (/graphql only); errors while running are counted below.
      graphql_envelop_error_result: createCounter({
        registry,
        counter: {
          name: 'graphql_envelop_error_result',
          help: 'GraphQL documents refused while parsing or validating, by operation, phase and code',
          labelNames: ['operationType', 'operationName', 'phase', 'code'],
        },
        phases: ['parse', 'validate'],
        fillLabelsFn: ({ operationType, operationName, errorPhase, error }) => ({
          operationType: operationType ?? 'unknown',
          operationName: operationLabel(operationName ?? 'Anonymous'),
          phase: errorPhase,
          // The code Yoga gives these errors only once it answers.
          code:
            errorCode(error) ??
            (errorPhase === 'parse' ? ErrorCode.GRAPHQL_PARSE_FAILED : ErrorCode.GRAPHQL_VALIDATION_FAILED),
        }),
      }),
    },
  });
  const errors = new Counter({
    name: 'reviews_api_graphql_errors_total',
    help: 'Errors of executed operations, GraphQL and REST alike, by operation and extensions.code',
    labelNames: ['operationType', 'operation', 'code'],
    registers: [registry],
  });
  // Yoga's Prometheus plugin follows an operation from its parsing, which SOFA skips: this
  // hook sees every execution, REST routes included.
  const countErrors = (operation: OperationDefinitionNode | null | undefined, result: readonly unknown[]) => {
    for (const error of result) {
      errors.inc({
        operationType: operation?.operation ?? 'unknown',
        operation: operationLabel(operation?.name?.value ?? 'Anonymous'),
        // Without a code, an error is one Yoga masks as "Unexpected error.".
        code: errorCode(error) ?? 'UNEXPECTED',
      });
    }
  };
  const errorsByCode: Plugin = {
    onExecute({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          if ('errors' in result && result.errors) countErrors(operation, result.errors);
        },
      };
    },
  };
  return {
    registry,
    plugins: [plugin, errorsByCode],
    /** The errors of an executed operation (the fast lane counts its own answers' here). */
    countErrors,
    observeRequest({ method, status, durationMs, operationName }: FinishedRequest) {
      requests.observe({ method, status, operation: operationLabel(operationName) }, durationMs / 1000);
    },
  };
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The node's state as gauges, read from NodeState.describe() at each scrape, whatever its
 * shape: numbers as `reviews_api_node_figure{key}` (Litestream's lag, sync times, restarts…),
 * booleans as 1/0 there too, ISO timestamps as Unix seconds there too, and short strings as
 * `reviews_api_node_info{key,value} 1` (role, Litestream up or down). Keys are dotted paths.
 */
function registerNodeGauges(registry: Registry, node: NodeState) {
  new Gauge({
    name: 'reviews_api_node_writable',
    help: '1 when this node accepts writes, 0 when it refuses them (READ_ONLY)',
    registers: [registry],
    collect() {
      this.set(node.whyReadOnly() === null ? 1 : 0);
    },
  });
  new Gauge({
    name: 'reviews_api_node_figure',
    help: 'Numeric figures of the node state (/ready), by dotted key; timestamps in Unix seconds',
    labelNames: ['key'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, value] of flatten(node.describe())) {
        const figure = asFigure(value);
        if (figure !== null) this.set({ key }, figure);
      }
    },
  });
  new Gauge({
    name: 'reviews_api_node_info',
    help: 'Textual facts of the node state (/ready), by dotted key, with the value as a label',
    labelNames: ['key', 'value'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, value] of flatten(node.describe())) {
        if (typeof value === 'string' && asFigure(value) === null && value.length <= MAX_LABEL_VALUE) {
          this.set({ key, value }, 1);
        }
      }
    },
  });
}

/** A number, a boolean as 1/0, an ISO timestamp as Unix seconds; null for anything else. */
function asFigure(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms / 1000;
  }
  return null;
}

function* flatten(value: unknown, prefix = ''): Generator<[string, unknown]> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) yield* flatten(inner, prefix ? `${prefix}.${key}` : key);
  } else if (prefix) {
    yield [prefix, value];
  }
}
