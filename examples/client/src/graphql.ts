import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.d.ts';

/**
 * `graphql()` for this API: documents written with it are typed from schema.graphql
 * (through graphql-env.d.ts, which `npm run client:check` regenerates), so a schema change
 * that breaks one of them fails the type check.
 */
export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: { DateTime: string; ID: string };
}>();

export type { FragmentOf, ResultOf, VariablesOf } from 'gql.tada';
