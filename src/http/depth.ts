import {
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLNamedType,
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * MAX_DEPTH counts the levels of data a document reaches: each field one level (the leaf
 * included), fragments none, and a connection's plumbing none: its `edges`, their `node`, its
 * `nodes` and `pageInfo` only wrap the rows of the field that holds them. Counted as Armor
 * counted every field, Relay's ordinary shapes (a user's reviews, their comments, each one's
 * author, through `node(id:)`) hit the limit long before any real cost; the cost limit
 * (src/http/cost.ts) is what bounds the rows, and it counts every one.
 */
export function useDepthLimit(maxDepth: number, refused: (error: GraphQLError) => void): Plugin {
  const rule: ValidationRule = (context) => {
    const fragmentDepths = new Map<string, number>();
    const depthOf = (selectionSet: SelectionSetNode, parent: GraphQLNamedType, fragmentsSeen: Set<string>): number => {
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          // Introspection's depth is the schema's, not the data's (GraphiQL's query is 13 deep).
          if (INTROSPECTION.has(selection.name.value)) continue;
          const def = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[selection.name.value] : null;
          // Unknown fields are the standard rules' to refuse; counted as a level all the same.
          const type = def ? getNamedType(def.type) : parent;
          const own = def && isPlumbing(parent, selection.name.value) ? 0 : 1;
          const below = selection.selectionSet ? depthOf(selection.selectionSet, type, fragmentsSeen) : 0;
          deepest = Math.max(deepest, own + below);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const condition = selection.typeCondition && context.getSchema().getType(selection.typeCondition.name.value);
          deepest = Math.max(deepest, depthOf(selection.selectionSet, condition ?? parent, fragmentsSeen));
        } else {
          const name = selection.name.value;
          const fragment: FragmentDefinitionNode | undefined | null = context.getFragment(name);
          // A cycle is the standard rules' to refuse.
          if (!fragment || fragmentsSeen.has(name)) continue;
          const key = `${name}@${parent.name}`;
          let depth = fragmentDepths.get(key);
          if (depth === undefined) {
            const condition = context.getSchema().getType(fragment.typeCondition.name.value) ?? parent;
            depth = depthOf(fragment.selectionSet, condition, new Set(fragmentsSeen).add(name));
            fragmentDepths.set(key, depth);
          }
          deepest = Math.max(deepest, depth);
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const root = context.getSchema().getRootType(operation.operation);
        if (!root) return;
        const depth = depthOf(operation.selectionSet, root, new Set());
        if (depth <= maxDepth) return;
        const error = new GraphQLError(
          `Query depth limit of ${maxDepth} (MAX_DEPTH) exceeded, found ${depth}; a connection's edges, node, nodes and pageInfo are not counted`,
          { nodes: operation },
        );
        refused(error);
        // Thrown, as Armor's rules are: the request ends here, before the other rules run.
        throw error;
      },
    };
  };
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
  };
}

const INTROSPECTION = new Set(['__schema', '__type']);

/** A connection's `edges`, `nodes` and `pageInfo`, or an edge's `node`. */
function isPlumbing(parent: GraphQLNamedType, field: string): boolean {
  if (!isObjectType(parent)) return false;
  const fields = parent.getFields();
  const connection = fields.edges !== undefined && fields.pageInfo !== undefined;
  const edge = fields.cursor !== undefined && fields.node !== undefined;
  return (connection && (field === 'edges' || field === 'nodes' || field === 'pageInfo')) || (edge && field === 'node');
}
