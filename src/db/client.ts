import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { cacheRelationalQueries } from './relational-query-cache.ts';
import { relations } from './relations.ts';
import { cachePreparedStatements } from './statement-cache.ts';

export interface OpenDatabaseOptions {
  /**
   * Litestream owns checkpoints while it replicates: SQLite's own autocheckpoint would
   * truncate WAL frames it has not copied yet. Without Litestream, SQLite's default keeps
   * the WAL from growing without bound.
   */
  replicating?: boolean;
  /** Receives every SQL statement Drizzle runs (tests count them, benchmarks report them). */
  logger?: Logger;
  readonly?: boolean;
}

const statementLoggers = new WeakMap<object, Logger>();

/** The logger a database was opened with: code running SQL past Drizzle reports to it too. */
export function statementLoggerOf(db: object): Logger | undefined {
  return statementLoggers.get(db);
}

export function openDatabase(path: string, options: OpenDatabaseOptions = {}) {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { readonly: options.readonly ?? false });
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  if (options.replicating) sqlite.pragma('wal_autocheckpoint = 0');
  cachePreparedStatements(sqlite);
  const db = drizzle({ client: sqlite, relations, logger: options.logger ?? false });
  cacheRelationalQueries(db.query, relations);
  if (options.logger) statementLoggers.set(db, options.logger);
  return db;
}

export type Db = ReturnType<typeof openDatabase>;
