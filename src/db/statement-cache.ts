import type { Database, Statement } from 'better-sqlite3';

/** Distinct SQL texts kept prepared; the app issues a few dozen, so this bound is never reached in use. */
const CAPACITY = 500;

/**
 * Makes `sqlite.prepare` return an already-prepared statement for SQL it has seen. Drizzle
 * prepares every query anew on each execution; SQLite then parses and plans the same text
 * again (about 60 µs for the page query). Callers switch a statement's row mode (Drizzle sets
 * raw for relational queries, migrate.ts plucks) and never switch back, so a statement handed
 * out again is reset to plain rows, as a fresh one would be. better-sqlite3 runs each
 * statement to completion synchronously (Drizzle never iterates), so one statement serves
 * every caller in turn.
 */
export function cachePreparedStatements(sqlite: Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement) {
      // Most recently used last, so the first key is the one to evict.
      cache.delete(source);
    } else {
      statement = prepare(source);
      if (cache.size >= CAPACITY) cache.delete(cache.keys().next().value as string);
    }
    cache.set(source, statement);
    return statement.reader ? statement.raw(false).pluck(false).expand(false) : statement;
  }) as Database['prepare'];
}
