import fc from 'fast-check';
import { parse } from 'graphql';
import { costLimit } from '../../src/http/limits.ts';
import { schema } from '../../src/schema/index.ts';
import { testConfig } from '../support/app.ts';

/**
 * Requests built to land on one memo key should the cost limit's memo be keyed by less than
 * what a verdict depends on: one document of two operations (a cheap and a dear one, the same
 * variables declared in different orders), variables set, left out or null, undeclared ones
 * whose names spell another request's key (`first=100,inner`), and lists for `nodes(ids:)`.
 */
export const TWO_OPERATIONS = `
query Cheap($first: Int = 1, $inner: Int = 1, $ids: [ID!]! = []) { reviews(first: $first) { nodes { comments(first: $inner) { nodes { id } } } } nodes(ids: $ids) { id } }
query Dear($ids: [ID!]! = [], $inner: Int = 1, $first: Int = 1) { reviews(first: $first) { nodes { comments(first: $inner) { nodes { body } } } } nodes(ids: $ids) { __typename } }`;

export type OperationName = 'Cheap' | 'Dear';
export interface CollidingRequest {
  query: string;
  operationName: OperationName;
  variables: Record<string, unknown>;
}

const DECLARED = ['first', 'inner', 'ids'] as const;
const reviewId = (i: number) => Buffer.from(`Review:${i + 1}`).toString('base64');
const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 5, 20, 100) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 150 }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 120 }).map((n) => Array.from({ length: n }, (_, i) => reviewId(i))),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, '100', true) },
);
/** Declared names and names that look like pieces of a key, in any order. */
const name = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...DECLARED) },
  { weight: 1, arbitrary: fc.constantFrom('first=100,inner', 'inner=100,first', 'ids#101,first', '__proto__', 'a,b') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const variables = fc
  .array(fc.tuple(name, value), { maxLength: 5 })
  .map((entries) => Object.fromEntries(entries) as Record<string, unknown>);

/** Page sizes that make `Dear` cost more than MAX_COST (and `Cheap` less), given in any order. */
const dearVariables = fc
  .tuple(fc.integer({ min: 20, max: 100 }), fc.integer({ min: 50, max: 100 }), fc.boolean())
  .map(([first, inner, innerFirst]) => (innerFirst ? { inner, first } : { first, inner }));

/** How a key that joined names and values unescaped spelled `variables`. */
function joinedKey(entries: [string, unknown][]): string {
  return entries
    .map(([key, inner]) => (Array.isArray(inner) ? `${key}#${inner.length},` : `${key}=${String(inner)},`))
    .join('');
}

/**
 * One undeclared variable whose name and value spell the same joined key as `variables`: for
 * `{ first: 100, inner: 100 }`, `{ "first=100,inner": 100 }`, which leaves every declared one at
 * its cheap default.
 */
export function smuggled(of: Record<string, unknown>): Record<string, unknown> {
  const counted = Object.entries(of).filter(([, inner]) => typeof inner === 'number' || Array.isArray(inner));
  const last = counted.at(-1);
  if (!last) return {};
  return { [`${joinedKey(counted.slice(0, -1))}${last[0]}`]: last[1] };
}

const request = (operationName: OperationName, vars: Record<string, unknown>): CollidingRequest => ({
  query: TWO_OPERATIONS,
  operationName,
  variables: vars,
});
const operationName = fc.constantFrom<OperationName>('Cheap', 'Dear');

/** One request of the document: any operation, any variables. */
export const collidingRequest = fc.tuple(operationName, variables).map(([op, vars]) => request(op, vars));

/**
 * Two requests whose only difference could fall outside a careless key: the same variables for
 * the other operation, variables smuggled in one undeclared name, the same values in the other
 * order, or two independent requests.
 */
export const collidingPair = fc.oneof(
  dearVariables.map((vars) => [request('Cheap', vars), request('Dear', vars)] as const),
  dearVariables.map((vars) => [request('Dear', smuggled(vars)), request('Dear', vars)] as const),
  fc
    .tuple(operationName, fc.constantFrom(0, 1, 5), fc.constantFrom(20, 100))
    .map(
      ([op, small, large]) =>
        [request(op, { first: small, inner: large }), request(op, { inner: small, first: large })] as const,
    ),
  fc.tuple(collidingRequest, collidingRequest),
);

const parsed = parse(TWO_OPERATIONS);

/** The cost rule's refusal of `request` by a limit that has seen no other request, or null. */
export function refusalAlone(request: CollidingRequest): string | null {
  const fresh = costLimit(testConfig.maxCost);
  return fresh.verdictFor(schema, parsed, request.operationName, request.variables).refusal?.message ?? null;
}

/** The cost rule's refusal among an answer's errors, or null: the messages refusalAlone gives. */
export function costRefusalOf(errors: { message: string }[] | undefined): string | null {
  const found = errors?.find(({ message }) => /^Cost limit of|takes at most/.test(message));
  return found?.message ?? null;
}
