import { builder } from './builder.ts';

/** A delete's payload: the global id of the row that is gone. */
export function deletedPayload(name: string, typename: string) {
  return builder.objectRef<{ rowId: number }>(name).implement({
    fields: (t) => ({
      deletedId: t.globalID({ resolve: (parent) => ({ type: typename, id: parent.rowId }) }),
    }),
  });
}
