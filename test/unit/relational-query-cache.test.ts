import Database from 'better-sqlite3';
import { defineRelations, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { integer, SQLiteDialect, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cacheRelationalQueries, stableSql } from '../../src/db/relational-query-cache.ts';

// A table of its own, with a column whose stored form differs from its value (a Date kept as
// milliseconds), so binding by column is seen to happen.
const events = sqliteTable('events', {
  id: integer('id').primaryKey(),
  at: integer('at', { mode: 'timestamp_ms' }).notNull(),
  kind: text('kind').notNull(),
  parentId: integer('parent_id'),
});
const relations = defineRelations({ events }, (r) => ({
  events: {
    parent: r.one.events({ from: r.events.parentId, to: r.events.id }),
    children: r.many.events({ from: r.events.id, to: r.events.parentId }),
  },
}));

const day = (n: number) => new Date(Date.UTC(2026, 0, n));

function databases() {
  const client = new Database(':memory:');
  client.exec(
    'create table events (id integer primary key, at integer not null, kind text not null, parent_id integer)',
  );
  const insert = client.prepare('insert into events (id, at, kind, parent_id) values (?, ?, ?, ?)');
  for (let id = 1; id <= 6; id++) insert.run(id, day(id).getTime(), id % 2 ? 'odd' : 'even', id > 2 ? 1 : null);
  const cached = drizzle({ client, relations });
  cacheRelationalQueries(cached.query, relations);
  // The same database without the cache: what every answer must equal.
  const plain = drizzle({ client, relations });
  return { cached, plain };
}

type Db = ReturnType<typeof databases>['plain'];
/** Configs of every form in one list: typed loosely, as each is checked against Drizzle's answer. */
const findMany = (db: Db, config: object) => (db.query.events.findMany as (config: object) => Promise<unknown>)(config);

const builds = () => vi.spyOn(SQLiteDialect.prototype, 'buildRelationalQuery');

afterEach(() => vi.restoreAllMocks());

describe('cacheRelationalQueries', () => {
  it('answers each call with its own values, building a shape once', async () => {
    const { cached } = databases();
    const built = builds();
    expect((await cached.query.events.findFirst({ where: { id: 2 } }))?.id).toBe(2);
    expect((await cached.query.events.findFirst({ where: { id: 5 } }))?.id).toBe(5);
    expect(await cached.query.events.findFirst({ where: { id: 99 } })).toBeUndefined();
    expect(built).toHaveBeenCalledTimes(1);

    const page = (limit: number, offset: number) =>
      cached.query.events.findMany({ orderBy: { id: 'asc' }, limit, offset, columns: { id: true } });
    expect(await page(2, 0)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await page(3, 3)).toEqual([{ id: 4 }, { id: 5 }, { id: 6 }]);
    expect(built).toHaveBeenCalledTimes(2);
  });

  it('binds values as their columns store them, in every filter form', async () => {
    const { cached, plain } = databases();
    const configs = [1, 3, 5].flatMap((n) => [
      { where: { at: { lt: day(n) } } },
      { where: { OR: [{ at: { gte: day(n) } }, { kind: 'even' }], NOT: { id: n } } },
      { where: { kind: { in: n === 1 ? ['odd'] : ['odd', 'even'] }, parentId: { isNull: n === 3 } } },
      { where: { at: { OR: [{ lte: day(n) }, { eq: day(6) }] } } },
      { where: { parentId: 1 }, with: { parent: true, children: { limit: n, orderBy: { id: 'desc' as const } } } },
    ]);
    for (const config of configs) {
      expect(await findMany(cached, config), JSON.stringify(config)).toEqual(await findMany(plain, config));
    }
  });

  it('builds anew what it cannot take apart, with the same answers', async () => {
    const { cached, plain } = databases();
    const count = (table: typeof events) => sql<number>`(select count(*) from ${events} where parent_id = ${table.id})`;
    const configs = [
      { where: { RAW: (table: typeof events) => sql`${table.id} > 4` } },
      { where: { parent: { kind: 'odd' } } },
      { extras: { children: count } },
    ];
    for (const config of configs) {
      const built = builds();
      for (let i = 0; i < 2; i++) expect(await findMany(cached, config)).toEqual(await findMany(plain, config));
      // Twice for the plain database, twice for the cached one: nothing was reused.
      expect(built).toHaveBeenCalledTimes(4);
      vi.restoreAllMocks();
    }
  });

  it('reuses queries whose SQL functions are marked stable', async () => {
    const { cached } = databases();
    const children = stableSql(
      (table: typeof events) => sql<number>`(select count(*) from ${events} where parent_id = ${table.id})`,
    );
    const built = builds();
    for (const id of [1, 2]) {
      const row = await cached.query.events.findFirst({ where: { id }, extras: { children } });
      expect(row?.children).toBe(id === 1 ? 4 : 0);
    }
    expect(built).toHaveBeenCalledTimes(1);
  });
});
