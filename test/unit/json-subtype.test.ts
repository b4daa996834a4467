import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

/**
 * What the compiled reads (src/reads/json-text.ts) rely on in the SQLite that better-sqlite3
 * bundles: JSON text stays JSON to the function it reaches through a scalar subquery, but not
 * through a column of a subquery in FROM, unless json() marks it again. An upgrade that changes
 * either would quote objects as strings, or make the json() the compiler adds unnecessary.
 */
describe("SQLite's JSON subtype", () => {
  const db = new Database(':memory:');
  const answer = (expression: string) => db.prepare(`select json_object('v', ${expression})`).pluck().get();

  it('survives a scalar subquery, objects and aggregates alike', () => {
    expect(answer(`(select json_object('a', 1))`)).toBe('{"v":{"a":1}}');
    expect(answer(`(select json_group_array(json('true')) from (select 1))`)).toBe('{"v":[true]}');
  });

  it('is lost by a column of a subquery in FROM, and json() gives it back', () => {
    const column = `(select v from (select json_object('a', 1) as v))`;
    expect(answer(column)).toBe('{"v":"{\\"a\\":1}"}');
    expect(answer(`json(${column})`)).toBe('{"v":{"a":1}}');
    expect(answer(`(select json_group_array(json(v)) from (select json_object('a', 1) as v))`)).toBe('{"v":[{"a":1}]}');
  });
});
