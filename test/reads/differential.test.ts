import { encodeBase64 } from '@pothos/core';
import fc from 'fast-check';
import { print, type VariableDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from '../support/app.ts';
import { bothPaths } from './both-paths.ts';
import { readCorpus } from './corpus.ts';
import { type Pools, tiedDataset } from './dataset.ts';
import { generatedRequests } from './generated-documents.ts';
import { servedWithLane } from './lane.ts';

const { db, pools: basePools } = tiedDataset();
const both = bothPaths(db);
let pools: Pools;
let alice: string;

/** Every cursor the ordinary path hands out for these rows, and some it never would. */
async function cursorsOf(): Promise<string[]> {
  const cursors = new Set<string>();
  const collect = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'cursor' && typeof inner === 'string') cursors.add(inner);
        else collect(inner);
      }
    }
  };
  for (const order of ['NEWEST', 'OLDEST', 'RATING_HIGH', 'RATING_LOW']) {
    const answer = await both.ask(
      `{ reviews(first: 100, orderBy: ${order}) { edges { cursor node { comments(first: 100) { edges { cursor } } } } } }`,
    );
    collect(JSON.parse(answer.ordinary.slice(4)));
  }
  const picked = [...cursors].filter((_, i) => i % 3 === 0);
  return [
    ...picked,
    'garbage',
    '',
    encodeBase64('DC:N:1700000000123'),
    encodeBase64('DC:J:[1700000000123,3]'),
    encodeBase64('DC:T:["N:1700000000123"]'),
    encodeBase64('DC:T:["S:x","N:3"]'),
    encodeBase64('DC:T:["N:1700000000123","N:3","N:4"]'),
  ];
}

beforeAll(async () => {
  alice = await tokenFor('alice', { name: 'alice the "reviewer"\n\t\u0001' });
  pools = { ...basePools, cursors: await cursorsOf() };
});

/** Values for a document's variables, the k-th of several assignments. */
function assignment(definitions: readonly VariableDefinitionNode[], k: number): Record<string, unknown> {
  const ids = [...pools.reviewIds, ...pools.commentIds, ...pools.userIds, ...pools.strangeIds];
  const variables: Record<string, unknown> = {};
  definitions.forEach((definition, i) => {
    const name = definition.variable.name.value;
    const type = print(definition.type).replace(/!/g, '');
    const at = <T>(values: T[]) => values[(k * 7 + i * 3) % values.length] as T;
    if (type === 'ID') variables[name] = at(ids);
    else if (type === '[ID]') variables[name] = [at(ids), at(pools.reviewIds), at(pools.strangeIds)];
    else if (type === 'Int') variables[name] = at([2, 1, 0, 150, 5]);
    else if (type === 'Boolean') variables[name] = k % 2 === 0;
    else if (type === 'ReviewOrder') variables[name] = at(['NEWEST', 'OLDEST', 'RATING_HIGH', 'RATING_LOW']);
    else if (type === 'String')
      variables[name] = /after|before|cursor/i.test(name) ? at(pools.cursors) : at(pools.subjects);
  });
  return variables;
}

interface Tally {
  compiled: number;
  ordinary: number;
}

async function expectSameBytes(query: string, variables: Record<string, unknown>, signedIn: boolean, tally: Tally) {
  const answer = await both.ask(query, variables, signedIn ? alice : undefined);
  expect(answer.compiled, `${query}\n${JSON.stringify(variables)}`).toBe(answer.ordinary);
  tally[answer.path ?? 'ordinary']++;
}

/** The variables the corpus entry's operation declares (the named one, or its only one). */
function variableDefinitionsOf(entry: ReturnType<typeof readCorpus>[number]) {
  const operation = entry.document.definitions.find(
    (node) =>
      node.kind === 'OperationDefinition' &&
      (entry.operationName === undefined || node.name?.value === entry.operationName),
  );
  return operation?.kind === 'OperationDefinition' ? (operation.variableDefinitions ?? []) : [];
}

describe('the compiled path answers byte for byte as the ordinary path', () => {
  it('for every read document in the tests, the README, GraphiQL and the typed client', async () => {
    const corpus = readCorpus();
    expect(corpus.length).toBeGreaterThan(40);
    const tally: Tally = { compiled: 0, ordinary: 0 };
    for (const entry of corpus) {
      const definitions = variableDefinitionsOf(entry);
      for (let k = 0; k < 6; k++) {
        const query = entry.operationName ? `${entry.text}` : entry.text;
        const answer = await both.ask(query, assignment(definitions, k), k % 2 === 0 ? alice : undefined);
        expect(answer.compiled, `${entry.source}: ${entry.text}`).toBe(answer.ordinary);
        tally[answer.path ?? 'ordinary']++;
      }
    }
    // Most of them ran compiled: the comparison is of two paths, not one path twice.
    expect(tally.compiled).toBeGreaterThan(tally.ordinary);
  }, 120_000);

  it('for documents generated from the schema over data with ties in every order key', async () => {
    const tally: Tally = { compiled: 0, ordinary: 0 };
    await fc.assert(
      fc.asyncProperty(generatedRequests(pools), async ({ query, variables, signedIn }) => {
        await expectSameBytes(query, variables, signedIn, tally);
      }),
      { numRuns: 400, seed: 20261201 },
    );
    // Fewer than half: a cursor of one connection or order on another is refused on both paths.
    expect(tally.compiled).toBeGreaterThan(80);
  }, 240_000);
});

describe('the fast lane answers as Yoga does, status, bytes and headers', () => {
  let served: Awaited<ReturnType<typeof servedWithLane>>;
  beforeAll(async () => {
    served = await servedWithLane(db);
  });
  afterAll(() => served.close());

  /** The same request to Yoga (which makes its document known to the lane) and over HTTP. */
  const expectSameAnswer = async (
    query: string,
    variables: Record<string, unknown>,
    token?: string,
    accept?: string,
  ) => {
    const request = { body: { query, variables }, token, ...(accept && { headers: { accept } }) };
    const yoga = await served.throughYoga(request);
    expect(await served.overHttp(request), `${query}\n${JSON.stringify(variables)}`).toEqual(yoga);
  };

  it('for every read document in the corpus, anonymous and signed in, as JSON and graphql-response+json', async () => {
    const accepts = [undefined, '*/*', 'application/graphql-response+json', 'application/json'];
    let requests = 0;
    for (const entry of readCorpus()) {
      const definitions = variableDefinitionsOf(entry);
      for (let k = 0; k < 4; k++) {
        await expectSameAnswer(entry.text, assignment(definitions, k), k % 2 === 0 ? alice : undefined, accepts[k]);
        requests++;
      }
    }
    // Most of them the lane answered: the comparison is of two ways in, not Yoga twice.
    expect(await served.laneAnswers()).toBeGreaterThan(requests / 2);
  }, 120_000);

  it('for documents generated from the schema', async () => {
    const before = await served.laneAnswers();
    await fc.assert(
      fc.asyncProperty(generatedRequests(pools), async ({ query, variables, signedIn }) => {
        await expectSameAnswer(query, variables, signedIn ? alice : undefined);
      }),
      { numRuns: 150, seed: 20261202 },
    );
    expect((await served.laneAnswers()) - before).toBeGreaterThan(40);
  }, 240_000);
});
