import type { Column } from 'drizzle-orm';
import type { GraphQLArgument, GraphQLField } from 'graphql';
import type { ArgFilter } from '../schema/read-spec.ts';
import { NotCompilable, Unsupported } from './fallback.ts';
import { argumentReading, globalIdParts } from './schema-adapter.ts';

/**
 * Argument values as the ordinary path hands them to a resolver, read at each run: a value it
 * would refuse (a malformed id, one of a type the argument does not take) is NotCompilable, so
 * that the ordinary path gives its error.
 */

/** Decodes an argument's value at each run, as the schema's plugins would before its resolver. */
export function argumentDecoder(arg: GraphQLArgument): (raw: unknown) => unknown {
  const reading = argumentReading(arg);
  switch (reading.kind) {
    case 'asGiven':
      return (raw) => raw;
    // Its rules are the resolver's: whatever the value, the ordinary path answers.
    case 'validated':
      return () => {
        throw new NotCompilable();
      };
    case 'globalId': {
      const { typenames } = reading;
      return (raw) => {
        const decoded = decodeGlobalId(raw);
        if (typenames && !typenames.includes(decoded.typename)) throw new NotCompilable();
        return decoded;
      };
    }
  }
}

/** Decodes a filtering argument into the value its column holds, as the field's resolver does. */
export function filterDecoder(
  def: GraphQLField<unknown, unknown>,
  arg: string,
  filter: ArgFilter,
): (raw: unknown) => unknown {
  const argDef = def.args.find((candidate) => candidate.name === arg);
  if (!argDef) throw new Unsupported(`no argument ${arg}`);
  const decode = argumentDecoder(argDef);
  return (raw) => {
    const value = decode(raw);
    try {
      return filter.decode ? filter.decode(value as never) : value;
    } catch {
      throw new NotCompilable();
    }
  };
}

/** A global id's parts, exactly as the ordinary path would read them, or NotCompilable. */
export function decodeGlobalId(value: unknown): { typename: string; id: string } {
  if (typeof value !== 'string') throw new NotCompilable();
  let decoded = decodedIds.get(value);
  if (decoded === undefined) {
    // Only ids that are exactly what this service writes: anything else takes the ordinary path.
    decoded = globalIdParts(value);
    // Short texts only, and a bounded number of them: a key is the client's.
    if (value.length <= MAX_REMEMBERED_ID_LENGTH) {
      if (decodedIds.size >= MAX_REMEMBERED_IDS) decodedIds.clear();
      decodedIds.set(value, decoded);
    }
  }
  if (decoded === null) throw new NotCompilable();
  return decoded;
}

/**
 * Ids decoded, by their text (null: not one this service writes). Decoding is pure, and the
 * requests of a page name the same few ids, each read by several checks and placeholders.
 */
const decodedIds = new Map<string, { typename: string; id: string } | null>();
const MAX_REMEMBERED_IDS = 1024;
const MAX_REMEMBERED_ID_LENGTH = 64;

/** A row key as its column holds it: canonical positive integers for integer keys. */
export function keyValue(column: Column, id: string): string | number {
  if (column.columnType === 'SQLiteText') return id;
  if (column.columnType === 'SQLiteInteger' && /^[1-9]\d{0,15}$/.test(id) && Number.isSafeInteger(Number(id))) {
    return Number(id);
  }
  throw new NotCompilable();
}

/** A decoded key argument (`{ id, typename }`) as its row id; see rowId in src/schema/ids.ts. */
export function rowKey(value: { id: string }): number {
  if (!/^[1-9]\d{0,15}$/.test(value.id) || !Number.isSafeInteger(Number(value.id))) throw new NotCompilable();
  return Number(value.id);
}
