import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge } from 'prom-client';

/** prom-client's own messages: each process answers them once it shared its registry. */
const METRICS_REQUEST = 'prom-client:getMetricsReq';
const METRICS_RESPONSE = 'prom-client:getMetricsRes';
/**
 * How long a scrape waits for each process. A process that is starting (forked, its app not yet
 * built) or busy answers nothing: the scrape goes on without it, rather than failing as a whole.
 */
const SCRAPE_TIMEOUT_MS = 1000;

/** One process's answer: its registries, each as getMetricsAsJSON() gives it. */
type ProcessMetrics = Parameters<typeof AggregatorRegistry.aggregate>[0];

interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  requestId: number;
  metrics?: ProcessMetrics;
  error?: string;
}

const isMetricsResponse = (message: unknown): message is MetricsResponse =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === METRICS_RESPONSE;

/**
 * The supervisor's /metrics for the host: every process's series summed as prom-client's
 * AggregatorRegistry sums them, from the processes that answered within SCRAPE_TIMEOUT_MS, and
 * `reviews_api_host_processes_unanswered`, how many did not (its clusterMetrics() failed the
 * whole scrape for one slow process: monitoring went dark exactly while a worker restarted).
 */
export function hostMetricsCollector(): (workers: Worker[]) => Promise<string> {
  let nextId = 0;
  const waiting = new Map<number, (metrics: ProcessMetrics | null) => void>();
  cluster.on('message', (_worker: Worker, message: unknown) => {
    if (isMetricsResponse(message)) waiting.get(message.requestId)?.(message.error ? null : (message.metrics ?? null));
  });
  const metricsOf = (worker: Worker) =>
    new Promise<ProcessMetrics | null>((resolve) => {
      if (!worker.isConnected()) return resolve(null);
      const requestId = nextId++;
      const timer = setTimeout(() => settle(null), SCRAPE_TIMEOUT_MS);
      function settle(metrics: ProcessMetrics | null) {
        clearTimeout(timer);
        waiting.delete(requestId);
        resolve(metrics);
      }
      waiting.set(requestId, settle);
      worker.send({ type: METRICS_REQUEST, requestId });
    });
  return async (workers) => {
    const answers = await Promise.all(workers.map(metricsOf));
    const answered = answers.filter((metrics): metrics is ProcessMetrics => metrics !== null);
    const registry = AggregatorRegistry.aggregate(answered.flat());
    new Gauge({
      name: 'reviews_api_host_processes_unanswered',
      help: 'Processes of this host that did not answer this scrape in time (starting, busy or gone)',
      registers: [registry],
    }).set(answers.length - answered.length);
    return registry.metrics();
  };
}
