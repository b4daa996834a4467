import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cachePreparedStatements } from '../../src/db/statement-cache.ts';

function cachedDatabase() {
  const sqlite = new Database(':memory:');
  sqlite.exec("create table t (id integer primary key, name text); insert into t (name) values ('a'), ('b')");
  cachePreparedStatements(sqlite);
  return sqlite;
}

describe('cachePreparedStatements', () => {
  it('hands out the same prepared statement for the same SQL', () => {
    const sqlite = cachedDatabase();
    const sql = 'select id, name from t order by id';
    expect(sqlite.prepare(sql)).toBe(sqlite.prepare(sql));
    expect(sqlite.prepare(sql)).not.toBe(sqlite.prepare('select id from t'));
  });

  it('resets the row mode a previous caller chose', () => {
    const sqlite = cachedDatabase();
    const sql = 'select id, name from t order by id';
    // Drizzle reads relational queries raw; migrate.ts plucks a single column.
    expect(sqlite.prepare(sql).raw().all()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(sqlite.prepare(sql).all()).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ]);
    expect(sqlite.prepare(sql).pluck().all()).toEqual([1, 2]);
    expect(sqlite.prepare(sql).get()).toEqual({ id: 1, name: 'a' });
  });

  it('still prepares statements that return no rows, and sees schema changes', () => {
    const sqlite = cachedDatabase();
    const insert = "insert into t (name) values ('c')";
    sqlite.prepare(insert).run();
    sqlite.prepare(insert).run();
    expect(sqlite.prepare('select count(*) as n from t').get()).toEqual({ n: 4 });
    sqlite.exec('alter table t add column extra text');
    expect(Object.keys(sqlite.prepare('select * from t').get() as object)).toEqual(['id', 'name', 'extra']);
  });
});
