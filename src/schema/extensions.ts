import type { GraphQLSchema } from 'graphql';

/** How a GraphQL root field is served as REST: read by the route table (src/http/rest.ts) and the OpenAPI writer. */
export interface RestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  tags: string[];
  /** A few words for the OpenAPI operation's `summary` (its description is the field's). */
  summary: string;
  responseStatus?: 200 | 201;
}

const REST = 'rest';
const TOUCHES = 'cacheTouches';

/**
 * Field extensions, declared beside a root field: its REST route, and for a mutation what it
 * may change beyond the rows it returns (the types whose cached answers it drops).
 */
export const restRoute = (route: RestRoute) => ({ [REST]: route });
export const cacheTouches = (...typenames: string[]) => ({ [TOUCHES]: typenames });

/** Every REST route the schema declares, by root field (`Query.reviews`, `Mutation.addComment`). */
export function restRoutesOf(schema: GraphQLSchema): Record<string, RestRoute> {
  const routes: Record<string, RestRoute> = {};
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      const route = field.extensions[REST] as RestRoute | undefined;
      if (type && route) routes[`${type.name}.${field.name}`] = route;
    }
  }
  return routes;
}

/** The types a mutation declared it touches; undefined when it declared none. */
export function cacheTouchesOf(schema: GraphQLSchema, mutation: string): string[] | undefined {
  return schema.getMutationType()?.getFields()[mutation]?.extensions[TOUCHES] as string[] | undefined;
}
