import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import {
  type ArgumentNode,
  type DocumentNode,
  type ExecutionResult,
  GraphQLError,
  getOperationAST,
  Kind,
  type ValueNode,
  validate,
  visit,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { DEFAULT_PAGE_SIZE } from '../schema/builder.ts';

/** The `extensions.code` of a document refused by an abuse limit, before it runs. */
export const QUERY_LIMIT_CODE = 'QUERY_TOO_COMPLEX';
/** The `extensions.code` of a query that ran past REQUEST_TIMEOUT_MS. */
export const TIMEOUT_CODE = 'TIMEOUT';

export type LimitConfig = Pick<
  Config,
  'env' | 'maxDepth' | 'maxAliases' | 'maxTokens' | 'maxDirectives' | 'maxCost' | 'requestTimeoutMs'
>;

/**
 * The abuse limits every document passes before it executes (GraphQL Armor: depth, aliases,
 * tokens, directives, and cost weighted by page sizes), plus introspection and "did you mean" suggestions off in
 * production, and a time limit on queries. Armor runs while parsing and validating, so a
 * refused document never reaches a resolver or the database.
 */
export function queryLimitPlugins(limits: LimitConfig): Plugin[] {
  const production = limits.env === 'production';
  const refuse = { exposeLimits: true, onReject: [tagAsLimitError], propagateOnRejection: true };
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      // Fragments add no depth of data: counting them would refuse honest `... on Review` queries.
      maxDepth: { n: limits.maxDepth, flattenFragments: true, ...refuse },
      maxAliases: { n: limits.maxAliases, ...refuse },
      maxTokens: { n: limits.maxTokens, ...refuse },
      maxDirectives: { n: limits.maxDirectives, ...refuse },
      // Weighed by useCostLimit below, which also sees page sizes passed as variables.
      costLimit: { enabled: false },
      // Suggestions reveal field names that introspection would hide.
      blockFieldSuggestion: { enabled: production },
    }) as Plugin,
    useCostLimit(costLimitRule({ maxCost: limits.maxCost, flattenFragments: true, ...refuse })),
    useQueryTimeout(limits.requestTimeoutMs),
  ];
  if (production) plugins.push(useDisableIntrospection());
  return plugins;
}

/** Armor's errors carry no code or status; clients branch on codes, so each refusal gets both. */
function tagAsLimitError(_context: unknown, error: GraphQLError) {
  Object.assign(error.extensions, { code: QUERY_LIMIT_CODE, http: { status: 400 } });
}

/**
 * Armor's cost rule multiplies a connection's cost by its `first`/`last`, but only when the
 * page size is written in the document: `first: $n` would count as 1. This runs the rule on
 * a copy of the document with the request's page-size variables written in.
 *
 * A document that passed is remembered with the page sizes it passed at: Yoga's parser cache
 * hands the same document object to every request with the same text, and re-walking it cost
 * about a tenth of a small query's time. Refusals are not remembered; they are rare and cheap.
 */
function useCostLimit(rule: ReturnType<typeof costLimitRule>): Plugin {
  const passed = new WeakMap<DocumentNode, Set<string>>();
  return {
    onValidate({ params, context, setResult }) {
      const variables = context.params.variables ?? {};
      const sizes = pageSizeVariables(params.documentAST).map((name) => String(pageSizeOf(variables[name])));
      const key = sizes.join(',');
      const seen = passed.get(params.documentAST) ?? new Set<string>();
      if (seen.has(key)) return;
      const document = withPageSizesInlined(params.documentAST, variables);
      // Armor throws its refusal out of the visitor (propagateOnRejection), as the other rules do.
      const errors = validate(params.schema, document, [rule]);
      if (errors.length) {
        setResult(errors);
        return;
      }
      // Bounded: a client cycling through page sizes cannot grow it past this.
      if (seen.size < MAX_REMEMBERED_SIZES) seen.add(key);
      passed.set(params.documentAST, seen);
    },
  };
}

const MAX_REMEMBERED_SIZES = 64;
const PAGE_SIZE_ARGUMENTS = ['first', 'last'];

/** A page-size variable's value as the cost rule sees it; undefined falls back to the default. */
function pageSizeOf(given: unknown): number | undefined {
  return Number.isSafeInteger(given) ? Number(given) : undefined;
}

const pageSizeNames = new WeakMap<DocumentNode, string[]>();

/** The variables a document passes as `first`/`last`, in document order (once per document). */
function pageSizeVariables(document: DocumentNode): string[] {
  let names = pageSizeNames.get(document);
  if (!names) {
    const found: string[] = [];
    visit(document, {
      Argument(argument) {
        if (argument.value.kind === Kind.VARIABLE && PAGE_SIZE_ARGUMENTS.includes(argument.name.value))
          found.push(argument.value.name.value);
      },
    });
    names = found;
    pageSizeNames.set(document, names);
  }
  return names;
}

function withPageSizesInlined(document: DocumentNode, variables: Record<string, unknown>): DocumentNode {
  const defaults = new Map<string, ValueNode | undefined>();
  visit(document, {
    VariableDefinition: (definition) => void defaults.set(definition.variable.name.value, definition.defaultValue),
  });
  return visit(document, {
    Argument(argument): ArgumentNode | undefined {
      if (argument.value.kind !== Kind.VARIABLE || !PAGE_SIZE_ARGUMENTS.includes(argument.name.value)) return undefined;
      const name = argument.value.name.value;
      const size = pageSizeOf(variables[name]);
      const fallback = defaults.get(name);
      const value: ValueNode =
        size !== undefined
          ? { kind: Kind.INT, value: String(size) }
          : (fallback ?? { kind: Kind.INT, value: String(DEFAULT_PAGE_SIZE) });
      return { ...argument, value };
    },
  });
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
  return new GraphQLError(`The query did not finish within ${ms} ms`, {
    extensions: { code: TIMEOUT_CODE, http: { status: 503 } },
  });
}
