import { builder } from './builder.ts';

/**
 * A connection's `totalCount`: a value for related connections, a lazy function for root
 * connections (the plugin calls it only when selected). The extension tells plugin-drizzle
 * that a selection of only `totalCount` needs no rows.
 */
type TotalCount = number | (() => number | Promise<number>) | undefined;

/**
 * `<name>Connection` and its `<name>Edge`, the edge kept for the mutation payloads that return
 * one (Relay's `@appendEdge` / `@prependEdge`).
 */
export function sharedConnection(type: Parameters<typeof builder.connectionObject>[0]['type'], name: string) {
  const edge = builder.edgeObject({
    type,
    name: `${name}Edge`,
    description: `A ${name} in a connection, with its cursor.`,
  });
  const connection = builder.connectionObject(
    {
      type,
      name: `${name}Connection`,
      description: `One page of ${name} objects (Relay connection): \`edges\` or \`nodes\`, and \`pageInfo\` to page on.`,
      fields: (t) => ({
        totalCount: t.int({
          description: 'How many objects the whole connection holds (every page), with its filters applied.',
          extensions: { pothosDrizzleTotalCount: true },
          resolve: async (connection) => {
            const count = (connection as { totalCount?: TotalCount }).totalCount;
            return (typeof count === 'function' ? await count() : count) ?? 0;
          },
        }),
      }),
    },
    edge,
  );
  return { connection, edge };
}
