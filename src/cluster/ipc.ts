import type { ProcessInfo, Question, ToSupervisor, ToWorker } from './messages.ts';
import { isClusterMessage } from './messages.ts';

/** How long a worker waits for the supervisor to answer (metrics, the process table, a turn taken). */
const ASK_TIMEOUT_MS = 5000;

type Handler<T extends ToWorker['type']> = (message: Extract<ToWorker, { type: T }>) => void;

const handlers = new Map<string, Set<(message: ToWorker) => void>>();
const pending = new Map<number, (answer: Extract<ToWorker, { type: 'cluster:answer' }>) => void>();
let nextId = 0;
let listening = false;

function listen() {
  if (listening) return;
  listening = true;
  process.on('message', (message: unknown) => {
    if (!isClusterMessage(message)) return;
    const typed = message as ToWorker;
    if (typed.type === 'cluster:answer') {
      pending.get(typed.id)?.(typed);
      pending.delete(typed.id);
      return;
    }
    for (const handler of handlers.get(typed.type) ?? []) handler(typed);
  });
}

/** Sends to the supervisor; a no-op once the channel is gone (the host is shutting down). */
export function tellSupervisor(message: ToSupervisor): void {
  if (process.connected) process.send?.(message);
}

export function onSupervisor<T extends ToWorker['type']>(type: T, handler: Handler<T>): void {
  listen();
  const set = handlers.get(type) ?? new Set();
  set.add(handler as (message: ToWorker) => void);
  handlers.set(type, set);
}

/**
 * From the supervisor: the host's metrics (one text for every process), its process table, or
 * whether a subscription from `address` may open.
 */
export function askSupervisor(question: 'metrics'): Promise<string>;
export function askSupervisor(question: 'processes'): Promise<ProcessInfo[]>;
export function askSupervisor(question: 'seat', address: string): Promise<boolean>;
export async function askSupervisor(
  question: 'metrics' | 'processes' | 'seat',
  address = '',
): Promise<string | ProcessInfo[] | boolean> {
  const answer = await ask(question === 'seat' ? { question, address } : { question });
  if (question === 'seat') return answer.granted === true;
  return (question === 'metrics' ? answer.metrics : answer.processes) ?? [];
}

/**
 * The writer's question: true once every live read worker took host state `turn`; false when
 * one did not within the supervisor's bound (`evict`: those are stopped instead, then true).
 */
export async function askTurnTaken(turn: number, evict: boolean): Promise<boolean> {
  return (await ask({ question: 'turn-taken', turn, evict })).granted === true;
}

function ask(question: Question): Promise<Extract<ToWorker, { type: 'cluster:answer' }>> {
  listen();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the supervisor did not answer "${question.question}" within ${ASK_TIMEOUT_MS} ms`));
    }, ASK_TIMEOUT_MS);
    pending.set(id, (answer) => {
      clearTimeout(timer);
      if (answer.error) reject(new Error(answer.error));
      else resolve(answer);
    });
    tellSupervisor({ type: 'cluster:ask', id, ...question });
  });
}
