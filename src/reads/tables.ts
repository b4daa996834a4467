import { type Column, getColumns, type Relation } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { GraphQLObjectType } from 'graphql';
import { relations } from '../db/relations.ts';
import { Unsupported } from './fallback.ts';
import { drizzleTableOf } from './schema-adapter.ts';

/** A table, or an alias of it, read generically: its columns by property name. */
export type AnyTable = SQLiteTable & Record<string, Column>;

/** A table of `defineRelations`, read generically: its Drizzle table and its relations by name. */
interface TableRelations {
  table: AnyTable;
  relations: Record<string, Relation>;
}

/** The table of `defineRelations` a schema type is built on; undefined for a type without one. */
export function tableNameOf(type: GraphQLObjectType): string | undefined {
  const model = drizzleTableOf(type);
  return model !== undefined && model in relations ? model : undefined;
}

export function relationsOf(tableName: string): TableRelations {
  const table = (relations as unknown as Record<string, TableRelations>)[tableName];
  if (!table) throw new Unsupported(`no table ${tableName}`);
  return table;
}

export function primaryKey(table: SQLiteTable): { key: string; column: Column } {
  const keys = Object.entries(getColumns(table)).filter(([, column]) => column.primary);
  const [only] = keys;
  if (keys.length !== 1 || !only) throw new Unsupported('a table without a single-column primary key');
  return { key: only[0], column: only[1] };
}

/** A relation's column (the table's own) as the alias `rows` has it, under the same property. */
export function columnOf(rows: AnyTable, column: Column): Column {
  const match = Object.entries(getColumns(rows)).find(([, candidate]) => candidate.name === column.name);
  const aliased = match && rows[match[0]];
  if (!aliased) throw new Unsupported(`no column ${column.name}`);
  return aliased;
}
