import { type Column, type SQL, sql } from 'drizzle-orm';
import { type GraphQLOutputType, getNamedType, getNullableType, isListType, isScalarType } from 'graphql';
import { Unsupported } from './fallback.ts';

const INT_RANGE = sql.raw('between -2147483648 and 2147483647');
/** The instants strftime writes exactly as Date#toISOString does (years 0000 to 9999). */
const MAX_PLAIN_INSTANT = 253_402_300_799_999;

function unwrapList(type: GraphQLOutputType): GraphQLOutputType | undefined {
  const nullable = getNullableType(type);
  return isListType(nullable) ? nullable.ofType : undefined;
}

/**
 * A scalar value in the JSON JavaScript would write for it: `value` is a column of the row
 * (`column`, whose stored type must match the scalar) or an expression.
 */
export function scalar(type: GraphQLOutputType, value: SQL, column?: Column): SQL {
  const item = unwrapList(type);
  if (item) {
    if (getNamedType(item).name !== 'Int' || column) throw new Unsupported('a list other than a JSON [Int]');
    return sql`json(${value})`;
  }
  const named = getNamedType(type);
  if (!isScalarType(named)) throw new Unsupported(`${named.name} is not a scalar`);
  const stored = column?.columnType;
  switch (named.name) {
    case 'String':
      if (column && stored !== 'SQLiteText') break;
      return value;
    case 'Int':
      if (column && stored !== 'SQLiteInteger') break;
      // GraphQL refuses an Int beyond 32 bits: that error is the ordinary path's to give. A
      // column is cheap to read twice; an expression (a count) is checked once, in JavaScript.
      return column
        ? sql`case when ${value} ${INT_RANGE} then ${value} else gql_fallback() end`
        : sql`gql_int(${value})`;
    case 'Float':
      if (column) break;
      return sql`json(gql_float(${value}))`;
    case 'DateTime':
      if (column && stored !== 'SQLiteInteger') break;
      return sql`case when typeof(${value}) = 'integer' and ${value} between 0 and ${sql.raw(String(MAX_PLAIN_INSTANT))}
          then strftime('%Y-%m-%dT%H:%M:%S', ${value} / 1000, 'unixepoch') || printf('.%03dZ', ${value} % 1000)
          else gql_datetime(${value}) end`;
  }
  throw new Unsupported(`scalar ${named.name}`);
}
