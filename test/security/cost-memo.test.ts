import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CollidingRequest,
  collidingPair,
  costRefusalOf,
  refusalAlone,
  smuggled,
  TWO_OPERATIONS,
} from './colliding-variables.ts';
import { post, serveApp } from './served.ts';

/**
 * The cost limit remembers its verdicts (src/http/limits.ts): an attacker who can make an
 * expensive request share the memo key of a cheap one runs it unweighed (a 300-byte query ran
 * 86 s and took 3.9 GB). Every request must be costed as if it came alone, on both read paths:
 * through Yoga, and through the fast lane, which serves a document once it ran compiled.
 */
describe.each([
  { fastReads: true, lanes: 'the fast lane and Yoga' },
  { fastReads: false, lanes: 'Yoga alone' },
])('the cost limit memo ($lanes)', ({ fastReads }) => {
  let served: Awaited<ReturnType<typeof serveApp>>;
  beforeAll(async () => {
    served = await serveApp({ env: 'production', fastReads, rateLimit: false });
  });
  afterAll(() => served.close());

  const refusalOver = async (request: CollidingRequest) => costRefusalOf((await post(served.url, request)).errors);

  it('refuses the dear operation of a document after its cheap one passed with the same variables', async () => {
    const variables = { first: 100, inner: 100 };
    expect(await refusalOver({ query: TWO_OPERATIONS, operationName: 'Cheap', variables })).toBeNull();
    expect(await refusalOver({ query: TWO_OPERATIONS, operationName: 'Dear', variables })).toMatch(/^Cost limit/);
  });

  it('refuses an expensive request after a cheap one smuggled its key in an undeclared variable', async () => {
    const variables = { first: 100, inner: 100 };
    const cheap = { query: TWO_OPERATIONS, operationName: 'Dear' as const, variables: smuggled(variables) };
    expect(cheap.variables).toEqual({ 'first=100,inner': 100 });
    expect(await refusalOver(cheap)).toBeNull();
    expect(await refusalOver({ ...cheap, variables })).toMatch(/^Cost limit/);
  });

  it('does not cost a value that is no size as an absent one (which takes the declared default)', async () => {
    expect(await refusalOver({ query: TWO_OPERATIONS, operationName: 'Dear', variables: { inner: 100 } })).toBeNull();
    const odd = { query: TWO_OPERATIONS, operationName: 'Dear' as const, variables: { inner: 100, first: true } };
    expect(await refusalOver(odd)).toBe(refusalAlone(odd));
    expect(refusalAlone(odd)).toMatch(/^Cost limit/);
  });

  it('costs the second of any two requests on its own (names, values, order, operation)', async () => {
    await fc.assert(
      fc.asyncProperty(collidingPair, async ([first, second]) => {
        expect(await refusalOver(first)).toBe(refusalAlone(first));
        expect(await refusalOver(second)).toBe(refusalAlone(second));
      }),
      { numRuns: 150 },
    );
  });
});
