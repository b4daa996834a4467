import { Column, Placeholder, sql } from 'drizzle-orm';

/** Distinct query shapes kept built; the schema's resolvers produce a few dozen. */
const CAPACITY = 500;

/** Operators whose operand is one value, bound as a parameter. */
const VALUE_OPERATORS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'like', 'notLike', 'ilike', 'notIlike']);
/** Operators whose operand is a list of values. */
const LIST_OPERATORS = new Set(['in', 'notIn']);

/** Drizzle's `defineRelations` output, as far as shaping reads it: each table and its relations. */
type Relations = Record<string, { table: object; relations: Record<string, { targetTableName: string }> }>;

type AnyFunction = (...args: never[]) => unknown;
const stableFunctions = new WeakMap<AnyFunction, number>();
let stableCount = 0;

/**
 * Marks an `extras` or `orderBy` function as returning the same SQL on every call, so that
 * relational queries using it can be built once. A function made anew per request (as
 * plugin-drizzle's `relatedCount` does) is unmarked, and its queries are built every time.
 */
export function stableSql<F extends AnyFunction>(fn: F): F {
  stableFunctions.set(fn, ++stableCount);
  return fn;
}

interface Shaped {
  /** The config with every bound value replaced by a placeholder. */
  config: unknown;
  /** The placeholders' values, already encoded as the columns store them. */
  values: Record<string, unknown>;
}

class Unshapeable extends Error {}

/**
 * Builds each relational query (`db.query.<table>.findMany/findFirst`) once per shape and runs
 * it with the request's values after that. Building is the costly part of a Drizzle relational
 * query: for `review(id)` it took about twice the time SQLite took to run the query. A query's
 * shape is its config with the bound values of `where`, `limit` and `offset` taken out; a config
 * this cannot take apart safely (relation filters, RAW SQL, functions not marked `stableSql`)
 * is built as before. Values go in encoded by their column, as Drizzle would have bound them.
 */
export function cacheRelationalQueries(query: object, relations: object): void {
  const built = new Map<string, PreparedQuery>();
  for (const [tableName, builder] of Object.entries(query as Record<string, RelationalQueryBuilder>)) {
    for (const method of ['findMany', 'findFirst'] as const) {
      const build = builder[method].bind(builder);
      builder[method] = (config?: unknown) => {
        const shaped = shape(relations as Relations, tableName, config);
        if (!shaped) return build(config);
        const key = `${tableName}.${method}:${JSON.stringify(shaped.config, keyOf)}`;
        let prepared = built.get(key);
        if (prepared) {
          // Most recently used last, so the first key is the one to evict.
          built.delete(key);
        } else {
          prepared = (build(shaped.config) as { prepare(): PreparedQuery }).prepare();
          if (built.size >= CAPACITY) built.delete(built.keys().next().value as string);
        }
        built.set(key, prepared);
        return prepared.execute(shaped.values);
      };
    }
  }
}

interface PreparedQuery {
  execute(values: Record<string, unknown>): unknown;
}

type Find = (config?: unknown) => unknown;

interface RelationalQueryBuilder {
  findMany: Find;
  findFirst: Find;
}

/** How a shaped config is written as a cache key: placeholders by name, functions by identity. */
function keyOf(_key: string, value: unknown): unknown {
  if (value instanceof Placeholder) return { $: value.name };
  if (typeof value === 'function') return { fn: stableFunctions.get(value as AnyFunction) };
  return value;
}

/** The config's shape and values, or null when it holds anything this does not understand. */
function shape(relations: Relations, tableName: string, config: unknown): Shaped | null {
  const values: Record<string, unknown> = {};
  const bind = (value: unknown) => {
    const name = `p${Object.keys(values).length}`;
    values[name] = value;
    return sql.placeholder(name);
  };
  try {
    return { config: config === undefined ? undefined : shapeQuery(relations, tableName, config, bind), values };
  } catch (error) {
    if (error instanceof Unshapeable) return null;
    throw error;
  }
}

type Bind = (value: unknown) => Placeholder;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function stable(value: unknown): unknown {
  if (typeof value === 'function' && stableFunctions.has(value as AnyFunction)) return value;
  throw new Unshapeable();
}

function shapeQuery(relations: Relations, tableName: string, config: unknown, bind: Bind): unknown {
  if (config === true) return true;
  if (!isPlainObject(config)) throw new Unshapeable();
  const table = relations[tableName];
  if (!table) throw new Unshapeable();
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    switch (key) {
      case 'columns':
        if (!isPlainObject(value) || !Object.values(value).every((on) => typeof on === 'boolean'))
          throw new Unshapeable();
        out[key] = value;
        break;
      case 'orderBy':
        out[key] = typeof value === 'function' ? stable(value) : orderOf(value);
        break;
      case 'extras':
        if (!isPlainObject(value)) throw new Unshapeable();
        out[key] = Object.fromEntries(Object.entries(value).map(([name, extra]) => [name, stable(extra)]));
        break;
      case 'limit':
      case 'offset':
        if (typeof value !== 'number') throw new Unshapeable();
        out[key] = bind(value);
        break;
      case 'where':
        out[key] = shapeWhere(table, value, bind);
        break;
      case 'with':
        if (!isPlainObject(value)) throw new Unshapeable();
        out[key] = Object.fromEntries(
          Object.entries(value).map(([name, nested]) => {
            const relation = table.relations[name];
            if (!relation) throw new Unshapeable();
            return [name, shapeQuery(relations, relation.targetTableName, nested, bind)];
          }),
        );
        break;
      default:
        throw new Unshapeable();
    }
  }
  return out;
}

function orderOf(value: unknown): unknown {
  if (!isPlainObject(value) || !Object.values(value).every((way) => way === 'asc' || way === 'desc'))
    throw new Unshapeable();
  return value;
}

type TableRelations = Relations[string];

/** A table-level filter: column filters joined by AND / OR / NOT. */
function shapeWhere(table: TableRelations, where: unknown, bind: Bind): unknown {
  if (!isPlainObject(where)) throw new Unshapeable();
  const columns = table.table as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (key === 'AND' || key === 'OR') {
      if (!Array.isArray(value)) throw new Unshapeable();
      out[key] = value.map((part) => shapeWhere(table, part, bind));
    } else if (key === 'NOT') {
      out[key] = shapeWhere(table, value, bind);
    } else {
      const column = columns[key];
      if (!(column instanceof Column)) throw new Unshapeable();
      out[key] = shapeColumnFilter(column, value, bind);
    }
  }
  return out;
}

/** A value (equality) or an object of operators, as Drizzle's relational filters take them. */
function shapeColumnFilter(column: Column, filter: unknown, bind: Bind): unknown {
  const encode = (value: unknown) => bind(value === null ? null : column.mapToDriverValue(value));
  if (typeof filter === 'string' || typeof filter === 'number' || typeof filter === 'boolean') return encode(filter);
  if (!isPlainObject(filter)) throw new Unshapeable();
  const out: Record<string, unknown> = {};
  for (const [operator, operand] of Object.entries(filter)) {
    if (operand === undefined) continue;
    if (VALUE_OPERATORS.has(operator)) {
      if (operand === null || (typeof operand === 'object' && !(operand instanceof Date))) throw new Unshapeable();
      out[operator] = encode(operand);
    } else if (LIST_OPERATORS.has(operator)) {
      if (!Array.isArray(operand)) throw new Unshapeable();
      out[operator] = operand.map(encode);
    } else if (operator === 'isNull' || operator === 'isNotNull') {
      if (typeof operand !== 'boolean') throw new Unshapeable();
      out[operator] = operand;
    } else if (operator === 'AND' || operator === 'OR') {
      if (!Array.isArray(operand)) throw new Unshapeable();
      out[operator] = operand.map((part) => shapeColumnFilter(column, part, bind));
    } else if (operator === 'NOT') {
      out[operator] = shapeColumnFilter(column, operand, bind);
    } else {
      throw new Unshapeable();
    }
  }
  return out;
}
