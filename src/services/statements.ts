import type { Db } from '../db/client.ts';

/**
 * A set of write statements prepared once per database handle, on its first use. Drizzle
 * builds a query's SQL anew on every execution; a prepared query binds and runs. Lazy, so a
 * node that never writes (a read worker, a standby on a read-only file) never prepares one.
 * They run on the handle's one connection, so inside runWrite's IMMEDIATE transaction.
 */
export function preparedPerDatabase<T>(prepare: (db: Db) => T): (db: Db) => T {
  const prepared = new WeakMap<Db, T>();
  return (db) => {
    let statements = prepared.get(db);
    if (!statements) {
      statements = prepare(db);
      prepared.set(db, statements);
    }
    return statements;
  };
}
