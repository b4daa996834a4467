import type { Invalidated, ProcessInfo, Question, ToSupervisor, ToWorker } from './messages.ts';
import { isClusterMessage } from './messages.ts';

/** How long a worker waits for the supervisor to answer (metrics, the process table, a turn taken). */
const ASK_TIMEOUT_MS = 5000;

type Handler<T extends ToWorker['type']> = (message: Extract<ToWorker, { type: T }>) => void;
type Answer = Extract<ToWorker, { type: 'cluster:answer' }>;

/** A worker's end of node:cluster's IPC channel: `process` in a worker. */
export interface SupervisorPort {
  readonly connected: boolean;
  send?(message: ToSupervisor): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * What a worker says to its supervisor and hears from it, over one port: messages told, handlers
 * by type for what arrives, and questions matched with their answers by id.
 */
export class SupervisorChannel {
  readonly #handlers = new Map<string, Set<(message: ToWorker) => void>>();
  readonly #pending = new Map<number, (answer: Answer) => void>();
  #nextId = 0;

  constructor(private readonly port: SupervisorPort) {
    port.on('message', (message) => {
      if (!isClusterMessage(message)) return;
      const typed = message as ToWorker;
      if (typed.type === 'cluster:answer') {
        this.#pending.get(typed.id)?.(typed);
        this.#pending.delete(typed.id);
        return;
      }
      for (const handler of this.#handlers.get(typed.type) ?? []) handler(typed);
    });
  }

  /** Sends to the supervisor; a no-op once the channel is gone (the host is shutting down). */
  tell(message: ToSupervisor): void {
    if (this.port.connected) this.port.send?.(message);
  }

  on<T extends ToWorker['type']>(type: T, handler: Handler<T>): void {
    const set = this.#handlers.get(type) ?? new Set();
    set.add(handler as (message: ToWorker) => void);
    this.#handlers.set(type, set);
  }

  /**
   * From the supervisor: the host's metrics (one text for every process), its process table, or
   * whether a subscription from `address` may open.
   */
  ask(question: 'metrics'): Promise<string>;
  ask(question: 'processes'): Promise<ProcessInfo[]>;
  ask(question: 'seat', address: string): Promise<boolean>;
  async ask(question: 'metrics' | 'processes' | 'seat', address = ''): Promise<string | ProcessInfo[] | boolean> {
    const answer = await this.#ask(question === 'seat' ? { question, address } : { question });
    if (question === 'seat') return answer.granted === true;
    return (question === 'metrics' ? answer.metrics : answer.processes) ?? [];
  }

  /** The writer's: true once every other live process dropped `entities` from its cache. */
  async invalidated(entities: Invalidated): Promise<boolean> {
    return (await this.#ask({ question: 'invalidate', entities })).granted === true;
  }

  /**
   * The writer's question: true once every live read worker took host state `turn`; false when
   * one did not within the supervisor's bound (`evict`: those are stopped instead, then true).
   */
  async turnTaken(turn: number, evict: boolean): Promise<boolean> {
    return (await this.#ask({ question: 'turn-taken', turn, evict })).granted === true;
  }

  #ask(question: Question): Promise<Answer> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the supervisor did not answer "${question.question}" within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      this.#pending.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.error) reject(new Error(answer.error));
        else resolve(answer);
      });
      this.tell({ type: 'cluster:ask', id, ...question });
    });
  }
}
