import { builder } from './builder.ts';

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
