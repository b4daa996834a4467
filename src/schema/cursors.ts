import { decodeBase64, decodeCursorChunk } from '@pothos/core';
import { type DocumentNode, Kind, type ValueNode, visit } from 'graphql';

/**
 * Whether a connection cursor is one plugin-drizzle could have written: base64 of `DC:` and a
 * chunk whose dates and numbers are real. plugin-drizzle checks the framing but not the values:
 * `DC:D:abc` decodes to an Invalid Date, which reached SQLite and failed as an unexpected error.
 */
function isWellFormedCursor(cursor: string): boolean {
  try {
    const decoded = decodeBase64(cursor);
    return decoded.startsWith('DC:') && holdsRealValues(decodeCursorChunk(decoded.slice(3)));
  } catch {
    return false;
  }
}

function holdsRealValues(value: unknown): boolean {
  if (value instanceof Date) return !Number.isNaN(value.getTime());
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(holdsRealValues);
  return true;
}

const CURSOR_ARGUMENTS = new Set(['after', 'before']);

const cursorValues = new WeakMap<DocumentNode, ValueNode[]>();

/**
 * The first `after`/`before` of a document that is not a well-formed cursor, written in or
 * passed as a variable; checked before anything runs, on every request (cursors are too
 * varied to remember verdicts by). The document's cursor arguments are found once.
 */
export function malformedCursor(document: DocumentNode, variables: Record<string, unknown>): string | undefined {
  let values = cursorValues.get(document);
  if (!values) {
    const found: ValueNode[] = [];
    visit(document, {
      Argument: (argument) => void (CURSOR_ARGUMENTS.has(argument.name.value) && found.push(argument.value)),
    });
    values = found;
    cursorValues.set(document, values);
  }
  for (const value of values) {
    const cursor =
      value.kind === Kind.VARIABLE ? variables[value.name.value] : value.kind === Kind.STRING ? value.value : null;
    if (typeof cursor === 'string' && !isWellFormedCursor(cursor)) return cursor;
  }
  return undefined;
}
