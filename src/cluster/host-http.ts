import { type IncomingMessage, type RequestListener, request, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { type ClientAddressOf, isLoopback } from '../client-address.ts';
import { METRICS_PATH, READY_PATH } from '../http/routes.ts';
import type { SupervisorChannel } from './ipc.ts';
import type { ProcessInfo } from './messages.ts';

/** Bounds the writer's /ready answer as a load balancer's probe would. */
const READY_TIMEOUT_MS = 2000;

/**
 * Wraps what a process of a host serves on the shared port: it counts the requests (for the
 * process table), and answers the two host-wide routes for the whole host, whichever process
 * a client reached: /metrics (every process's series, summed by the supervisor) and /ready
 * (the writer's answer; 503 when the writer is gone). The process table (pids, requests per
 * process) is the operators': /ready lists it only to a client on this machine (loopback, as
 * `clientAddress` tells it behind TRUSTED_PROXIES), never to anyone a load balancer forwards.
 */
export function servedForHost(
  handler: RequestListener,
  clientAddress: ClientAddressOf,
  channel: SupervisorChannel,
  writerSocket: string,
): RequestListener {
  let served = 0;
  channel.on('cluster:stats?', ({ id }) => channel.tell({ type: 'cluster:stats', id, requestsServed: served }));
  return (req, res) => {
    served += 1;
    const path = req.url?.split('?')[0];
    if (req.method === 'GET' && path === METRICS_PATH) return void hostMetrics(res, channel);
    if (req.method === 'GET' && path === READY_PATH) {
      return void hostReadiness(res, channel, writerSocket, isLoopback(clientAddress(req)));
    }
    handler(req, res);
  };
}

async function hostMetrics(res: ServerResponse, channel: SupervisorChannel) {
  try {
    const text = await channel.ask('metrics');
    res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(text);
  } catch (error) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(error as Error).message}\n`);
  }
}

async function hostReadiness(
  res: ServerResponse,
  channel: SupervisorChannel,
  writerSocket: string,
  toOperator: boolean,
) {
  const [writer, processes] = await Promise.all([
    writersReadiness(writerSocket),
    channel.ask('processes').catch(() => null as ProcessInfo[] | null),
  ]);
  const writerListed = processes?.some((entry) => entry.role === 'writer') ?? false;
  const ready = writer.status === 200 && writerListed;
  const body = { ...writer.body, ...(!ready && { status: 'not ready' }), ...(toOperator && { processes }) };
  res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** The writer's own /ready, asked over its socket; "gone" when it does not answer. */
function writersReadiness(writerSocket: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const gone = (why: string) => ({ status: 503, body: { status: 'not ready', writer: `gone: ${why}` } });
  return new Promise((resolve) => {
    const asked = request({ socketPath: writerSocket, path: READY_PATH, timeout: READY_TIMEOUT_MS }, (answer) => {
      readAll(answer).then(
        (text) => {
          try {
            resolve({ status: answer.statusCode ?? 503, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            resolve(gone('its /ready was not JSON'));
          }
        },
        (error: Error) => resolve(gone(error.message)),
      );
    });
    asked.on('timeout', () => asked.destroy(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)));
    asked.on('error', (error) => resolve(gone(error.message)));
    asked.end();
  });
}

async function readAll(stream: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}
