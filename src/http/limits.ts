import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { isAsyncIterable } from '@graphql-tools/utils';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import {
  type DocumentNode,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { ErrorCode, refusal, refusalExtensions } from '../errors.ts';
import { cursorProblem } from '../schema/cursors.ts';
import { type CostVerdict, operationCost } from './cost.ts';
import { useDepthLimit } from './depth.ts';
import { useInputErrors } from './input-errors.ts';

export type LimitConfig = Pick<
  Config,
  | 'env'
  | 'maxDepth'
  | 'maxAliases'
  | 'maxTokens'
  | 'maxDirectives'
  | 'maxCost'
  | 'requestTimeoutMs'
  | 'maxResponseBytes'
>;

/**
 * The abuse limits every document passes before it executes (GraphQL Armor: aliases, tokens,
 * directives; ours: depth, the cost of rows and what they carry, list arguments, cursors),
 * client mistakes coded as such, introspection and "did you mean" suggestions off in
 * production, a bound on the answer's size, and a time limit on queries. They run while
 * parsing and validating, so a refused document never reaches a resolver or the database,
 * on the ordinary path or a compiled one.
 */
export function queryLimitPlugins(limits: LimitConfig, cost: CostLimit = costLimit(limits.maxCost)): Plugin[] {
  const production = limits.env === 'production';
  const refuse = (setting: string) => ({
    exposeLimits: true,
    onReject: [(_context: unknown, error: GraphQLError) => namedRefusal(error, setting)],
    propagateOnRejection: true,
  });
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      // Counted by useDepthLimit below, which leaves out a connection's plumbing.
      maxDepth: { enabled: false },
      // Every alias counts: Armor's default allow-list skips `__typename`, alias or field, so
      // `__typename: reviews { … }` would double a level for free.
      maxAliases: { n: limits.maxAliases, allowList: [], ...refuse('MAX_ALIASES') },
      maxTokens: { n: limits.maxTokens, ...refuse('MAX_TOKENS') },
      maxDirectives: { n: limits.maxDirectives, ...refuse('MAX_DIRECTIVES') },
      // Weighed by useCostLimit below, which sees page sizes and id lists passed as variables.
      costLimit: { enabled: false },
      // Suggestions reveal field names that introspection would hide.
      blockFieldSuggestion: { enabled: production },
    }) as Plugin,
    useDepthLimit(limits.maxDepth, tagAsLimitError),
    cost.plugin,
    useInputErrors({ production }),
    useResponseSizeLimit(limits.maxResponseBytes),
    useQueryTimeout(limits.requestTimeoutMs),
  ];
  if (production) plugins.push(useDisableIntrospection());
  return plugins;
}

/** Armor's errors carry no code or status; clients branch on codes, so each refusal gets both. */
function tagAsLimitError(error: GraphQLError) {
  Object.assign(error.extensions, refusalExtensions(ErrorCode.QUERY_TOO_COMPLEX));
}

/**
 * Armor words every refusal `Syntax Error: Aliases limit of 15 exceeded, found 16.`, which sends
 * a client looking for a typo: it is told instead which limit it hit and the setting that holds it,
 * `Aliases limit of 15 (MAX_ALIASES) exceeded, found 16`, as the depth rule words its own.
 */
function namedRefusal(error: GraphQLError, setting: string) {
  const plain = error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '');
  error.message = plain.replace(/^(\w+ limit of \d+) exceeded/, `$1 (${setting}) exceeded`);
  tagAsLimitError(error);
}

/**
 * The cost rule (src/http/cost.ts), the bound on list arguments and the cursors' form, once the standard
 * validation has passed and before anything runs: the REST routes' fixed documents, the compiled read
 * path and the fast lane are behind it too. It needs the request's variables (a page size or an id list
 * passed as `$n` counts as written), so it cannot be a plain validation rule.
 *
 * A verdict is remembered per operation (the node Yoga's parser cache hands every request with
 * the same text, so the operation name picks it) and per costKey of its declared variables.
 * Bounded per operation, so a client cycling through page sizes cannot grow it. `budget` is
 * what running documents hold (CostBudget): the plugin and the fast lane take from the same one.
 */
export function costLimit(maxCost: number) {
  const verdicts = new WeakMap<OperationDefinitionNode, Map<string, CostVerdict>>();
  // Contexts whose document was weighed while validating (SOFA's REST routes skip validation),
  // with the cost they were admitted at.
  const weighed = new WeakMap<object, number>();
  const budget = new CostBudget(maxCost * CONCURRENT_WORST_DOCUMENTS);
  const verdictFor = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown>,
  ): { refusal?: GraphQLError; cost: number } => {
    const operation = getOperationAST(document, operationName);
    if (!operation) return { cost: 0 };
    const badCursor = cursorProblem(schema, document, variables);
    if (badCursor !== undefined) return { refusal: badInput(badCursor), cost: 0 };
    const key = costKey(operation, variables);
    const seen = verdicts.get(operation) ?? new Map<string, CostVerdict>();
    let verdict = seen.get(key);
    if (!verdict) {
      verdict = operationCost(schema, document, operation, variables);
      if (seen.size < MAX_REMEMBERED_SIZES) seen.set(key, verdict);
      verdicts.set(operation, seen);
    }
    const limit = operation.operation === 'subscription' ? subscriptionCost(maxCost) : maxCost;
    return { refusal: refusalOf(verdict, limit), cost: 'cost' in verdict ? verdict.cost : 0 };
  };
  const plugin: Plugin = {
    onValidate({ params, context }) {
      return ({ valid }) => {
        if (!valid) return;
        const { variables = {}, operationName } = context.params;
        const { refusal, cost } = verdictFor(params.schema, params.documentAST, operationName, variables);
        // Thrown, as Armor's rules do, not set as the result: Yoga caches a document's
        // validation result by its text alone, and this verdict depends on the variables.
        if (refusal) throw refusal;
        weighed.set(context, cost);
      };
    },
    async onExecute({ args, executeFn, setExecuteFn, setResultAndStopExecution }) {
      let cost = weighed.get(args.contextValue as object);
      if (cost === undefined) {
        const verdict = verdictFor(args.schema, args.document, args.operationName, args.variableValues ?? {});
        if (verdict.refusal) return setResultAndStopExecution({ errors: [verdict.refusal] });
        cost = verdict.cost;
      }
      // Heavy documents wait for their turn: ten at once would each hold their rows in memory.
      await budget.take(cost);
      let held = true;
      const release = () => {
        if (held) budget.give(cost);
        held = false;
      };
      // Released when done, and also should execution throw (onExecuteDone would not run).
      setExecuteFn(async (executeArgs) => {
        try {
          return await executeFn(executeArgs);
        } catch (error) {
          release();
          throw error;
        }
      });
      // An answer in parts (@defer, @stream) is done with its last part sent or its stream
      // cancelled: the parts still to come are what the cost weighed, run and held until then.
      return { onExecuteDone: ({ result }) => (isAsyncIterable(result) ? { onEnd: release } : release()) };
    },
  };
  return { verdictFor, budget, plugin };
}

export type CostLimit = ReturnType<typeof costLimit>;

/** How many documents at MAX_COST may run at once; cheaper ones share the same budget. */
const CONCURRENT_WORST_DOCUMENTS = 2;

/**
 * A budget of cost units held by the documents running now, handed out first come, first
 * served. Execution interleaves at every await, so ten expensive documents sent together
 * would hold ten answers' rows at once (RSS grew by ~60 MB each); within the budget they
 * run side by side, past it they wait, and the small ones never wait for long.
 */
class CostBudget {
  private free: number;
  private readonly waiting: { cost: number; go: () => void }[] = [];

  constructor(total: number) {
    this.free = total;
  }

  take(cost: number): Promise<void> | undefined {
    if (this.waiting.length === 0 && cost <= this.free) {
      this.free -= cost;
      return undefined;
    }
    return new Promise((go) => this.waiting.push({ cost, go }));
  }

  give(cost: number) {
    this.free += cost;
    for (let next = this.waiting[0]; next && next.cost <= this.free; next = this.waiting[0]) {
      this.waiting.shift();
      this.free -= next.cost;
      next.go();
    }
  }
}

/**
 * A subscription runs its selection once per event for every subscriber of the topic, so one
 * write costs its selection times MAX_SUBSCRIPTIONS at most: its share of MAX_COST is small.
 */
export function subscriptionCost(maxCost: number): number {
  return Math.floor(maxCost / SUBSCRIPTION_COST_SHARE);
}

const SUBSCRIPTION_COST_SHARE = 100;

function refusalOf(verdict: CostVerdict, limit: number): GraphQLError | undefined {
  if ('badInput' in verdict) return badInput(verdict.badInput);
  if (verdict.cost <= limit) return undefined;
  return refusal(ErrorCode.QUERY_TOO_COMPLEX, `Cost limit of ${limit} exceeded, found ${verdict.cost}`);
}

function badInput(message: string) {
  return refusal(ErrorCode.BAD_USER_INPUT, message);
}

/**
 * Exactly what of the request can change an operation's cost (src/http/cost.ts reads a variable
 * only as a number, a page size, or as a list, by its length; absent and null both fall back
 * to the declared default, any other value to none): the operation's declared variables, in declaration order, each as one JSON
 * value. Undeclared variables never count, and no name or value can run into the next.
 */
export function costKey(operation: OperationDefinitionNode, variables: Record<string, unknown>): string {
  return JSON.stringify(
    (operation.variableDefinitions ?? []).map(({ variable }) => {
      const value = Object.hasOwn(variables, variable.name.value) ? variables[variable.name.value] : undefined;
      // Absent and null take the declared default; any other value that is neither a number nor
      // a list is read as no size at all (the connection's own default): a third key, not null.
      if (value === undefined || value === null) return null;
      if (typeof value === 'number') return String(value);
      return Array.isArray(value) ? [value.length] : 0;
    }),
  );
}

const MAX_REMEMBERED_SIZES = 64;

/**
 * MAX_RESPONSE_BYTES: an answer whose JSON would be larger is refused before it is serialised,
 * so no string of that size is ever built (a 2.6 GB answer ended in `RangeError: Invalid
 * string length` after it had filled the heap). The cost rule keeps answers far below this;
 * this is the bound should a weight be wrong. Its size is estimated by walking the result,
 * which costs a small fraction of serialising it.
 */
function useResponseSizeLimit(maxBytes: number): Plugin {
  return {
    onExecute: ({ executeFn, setExecuteFn }) => {
      setExecuteFn(async (args) => {
        const result = await executeFn(args);
        return isAsyncIterable(result) ? partsWithin(result, maxBytes) : result;
      });
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || answerFits(result, maxBytes)) return;
          setResult({ errors: [answerTooLarge(maxBytes)] });
        },
      };
    },
  };
}

/**
 * An answer in parts (@defer, @stream) counted whole: once the parts sent add up to more than
 * `maxBytes`, the last one says so and execution stops.
 */
async function* partsWithin(parts: AsyncIterable<unknown>, maxBytes: number): AsyncGenerator<unknown> {
  let sent = 0;
  let first = true;
  for await (const part of parts) {
    sent += jsonSizeAtLeast(part, maxBytes - sent + 1);
    if (sent > maxBytes) {
      const errors = [answerTooLarge(maxBytes)];
      yield first ? { errors, hasNext: false } : { hasNext: false, incremental: [{ path: [], errors }] };
      return;
    }
    first = false;
    yield part;
  }
}

/** The refusal of an answer past MAX_RESPONSE_BYTES (the fast lane's too). */
export function answerTooLarge(maxBytes: number) {
  return refusal(ErrorCode.QUERY_TOO_COMPLEX, `The answer would be larger than ${maxBytes} bytes; ask for fewer rows`);
}

/**
 * MAX_RESPONSE_BYTES on one result, as the plugin above and the fast lane ask it. A compiled
 * read's answer is text already (src/reads/): its length is known, and reading its `data`
 * would parse it only to measure it.
 */
export function answerFits(result: object, maxBytes: number): boolean {
  const { serializedLength } = result as { serializedLength?: unknown };
  if (typeof serializedLength === 'function') return (serializedLength as () => number)() <= maxBytes;
  const { data } = result as { data?: unknown };
  return !data || jsonSizeAtLeast(data, maxBytes) <= maxBytes;
}

/** An estimate of `value`'s JSON length in bytes (strings as UTF-8), stopping once past `limit`. */
function jsonSizeAtLeast(value: unknown, limit: number): number {
  let size = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && size <= limit) {
    const item = pending.pop();
    if (typeof item === 'string') size += Buffer.byteLength(item) + 2;
    else if (Array.isArray(item)) {
      size += item.length + 1;
      for (const element of item) pending.push(element);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, inner] of Object.entries(item)) {
        size += key.length + 4;
        pending.push(inner);
      }
    } else size += 5;
  }
  return size;
}

/**
 * Answers a query still running after `ms` with a TIMEOUT error instead of holding the
 * connection. Mutations are left alone: each is one synchronous transaction that is either
 * committed or not by the time a timer could fire, and a timeout error after a commit would
 * tell the client its acknowledged write failed.
 */
function useQueryTimeout(ms: number): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      setExecuteFn(async (executeArgs) => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<ExecutionResult>((resolve) => {
          timer = setTimeout(() => resolve({ errors: [timeoutError(ms)] }), ms);
        });
        try {
          return await Promise.race([executeFn(executeArgs) as Promise<ExecutionResult>, timedOut]);
        } finally {
          clearTimeout(timer);
        }
      });
    },
  };
}

function timeoutError(ms: number) {
  return refusal(ErrorCode.TIMEOUT, `The query did not finish within ${ms} ms`);
}
