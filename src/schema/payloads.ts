import { builder } from './builder.ts';
import { cursorAt, cursorScope } from './cursors.ts';
import type { Ordering } from './read-spec.ts';

/** A delete's payload: the global id of the row that is gone. */
export function deletedPayload(name: string, typename: string) {
  return builder.objectRef<{ rowId: number }>(name).implement({
    description: `What was deleted: the ${typename}'s id, for removing it from a client's cache.`,
    fields: (t) => ({
      deletedId: t.globalID({
        description: `The global id of the ${typename} that is gone.`,
        resolve: (parent) => ({ type: typename, id: parent.rowId }),
      }),
    }),
  });
}

/**
 * A written row as an edge of the connections of `nodeType` in `order` (WrittenEdgeSpec): the
 * cursor those connections give it, and the row as the node (its relations loaded as selected).
 */
export function writtenEdge<Row extends Record<string, unknown>>(nodeType: string, order: Ordering, row: Row) {
  const values = Object.keys(order).map((column) => row[column]);
  return { cursor: cursorAt(cursorScope(nodeType, order), values), node: row };
}
