import { describe, expect, it } from 'vitest';
import { batchPerTurn } from '../../src/cluster/turn-batch.ts';
import { isSurelyRead } from '../../src/http/forward.ts';

const body = (params: unknown) => Buffer.from(typeof params === 'string' ? params : JSON.stringify(params));

describe('isSurelyRead (what a read worker answers itself)', () => {
  it('is true for a JSON query whose document never says mutation', () => {
    expect(isSurelyRead(body({ query: '{ reviews(first: 5) { edges { node { id } } } }' }))).toBe(true);
    // A document that does not parse gets the same error from every process.
    expect(isSurelyRead(body({ query: '{ reviews(' }))).toBe(true);
  });

  it('hands to the writer, unparsed, every document that says mutation, a query naming the word too', () => {
    expect(isSurelyRead(body({ query: 'mutation { addComment(input: {}) { comment { id } } }' }))).toBe(false);
    expect(isSurelyRead(body({ query: 'query Q { __schema { mutationType { name } } }' }))).toBe(false);
    expect(isSurelyRead(body({ query: '{ a } mutation {' }))).toBe(false);
  });

  it('hands to the writer what it cannot read: not JSON, no document text', () => {
    expect(isSurelyRead(body('query=%7B%20a%20%7D'))).toBe(false);
    expect(isSurelyRead(body({ extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } } }))).toBe(false);
    expect(isSurelyRead(body('null'))).toBe(false);
  });
});

describe('batchPerTurn', () => {
  it('delivers what one turn handed in as one list once the turn is over, and the next turn apart', async () => {
    const delivered: number[][] = [];
    const send = batchPerTurn<number>((items) => delivered.push(items));
    send(1);
    send(2);
    send(3);
    expect(delivered).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toEqual([[1, 2, 3]]);
    send(4);
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toEqual([[1, 2, 3], [4]]);
  });
});
