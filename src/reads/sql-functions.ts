import type { Database } from 'better-sqlite3';
import { cursorAt } from '../schema/cursors.ts';
import { NotCompilable } from './fallback.ts';
import { globalId } from './schema-adapter.ts';

/**
 * The few values a compiled statement formats in JavaScript, because their exact text is
 * JavaScript's: global ids and cursors (base64, which SQLite lacks) and floats (SQLite writes
 * `1.0e+21` where JSON.stringify writes `1e+21`). Each calls the function the ordinary path
 * calls, so the two cannot drift apart.
 */
const registered = new WeakSet<Database>();

export function registerReadFunctions(sqlite: Database): void {
  if (registered.has(sqlite)) return;
  registered.add(sqlite);
  const pure = { deterministic: true } as const;
  sqlite.function('gql_id', pure, (typename: unknown, id: unknown) => globalId(String(typename), String(id)));
  // A cursor: its scope (what it pages), then plugin-drizzle's chunk of the order's values.
  sqlite.function('gql_cursor', { ...pure, varargs: true }, (scope: unknown, ...values: unknown[]) =>
    cursorAt(String(scope), values),
  );
  sqlite.function('gql_int', pure, (value: unknown) => {
    // A BigInt: better-sqlite3 hands every JavaScript number back to SQLite as a real (`1.0`).
    if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) {
      return BigInt(value);
    }
    throw new NotCompilable();
  });
  sqlite.function('gql_float', pure, (value: unknown) => (value === null ? null : JSON.stringify(value)));
  // DateTime's serializer, for instants outside the years SQLite's strftime writes as JS does.
  sqlite.function('gql_datetime', pure, (epochMs: unknown) => new Date(Number(epochMs)).toISOString());
  sqlite.function('gql_fallback', () => {
    throw new NotCompilable();
  });
}
