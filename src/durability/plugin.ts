import { type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { Context, NodeState } from '../context.ts';
import { ErrorCode, refusal } from '../errors.ts';

/**
 * DURABILITY=replicated, in one place for every write path (GraphQL and REST alike): a
 * mutation operation that wrote something is answered only once the node confirms its writes
 * are in the replica. Its transactions are synchronous, so they have all committed when
 * execution returns; the node marks the WAL then and waits (group commit:
 * src/replication/replica-barrier.ts). A wait that ends without confirmation replaces the
 * answer with NOT_REPLICATED (HTTP 503): committed here, maybe not in the replica. Never a
 * silent success.
 */
export function useDurableMutations({ durability }: Pick<Config, 'durability'>): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (durability !== 'replicated') return;
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      setExecuteFn(async (executeArgs) => {
        const result = (await executeFn(executeArgs)) as ExecutionResult;
        // Refused before writing (input, auth, READ_ONLY…): nothing to wait for.
        if (!result.data || Object.values(result.data).every((value) => value === null)) return result;
        const unconfirmed = await unconfirmedWrites(args.contextValue.node);
        return unconfirmed ? { data: null, errors: [...(result.errors ?? []), unconfirmed] } : result;
      });
    },
  };
}

/** Null once the node confirms the writes so far; else the NOT_REPLICATED error (the fast lane's too). */
export async function unconfirmedWrites(node: NodeState) {
  let why: string | null;
  if (!node.confirmWrites) {
    why = 'this node cannot confirm replication (it does not run Litestream)';
  } else {
    try {
      await node.confirmWrites();
      // Confirmed while this node still may write: a standby that takes over restores after
      // that moment, so it has the write. A node that lost its lease meanwhile cannot say so.
      why = node.whyReadOnly();
    } catch (error) {
      why = (error as Error).message;
    }
  }
  if (why === null) return null;
  // A retry with the same idempotencyKey answers the first write, once it is replicated.
  return refusal(
    ErrorCode.NOT_REPLICATED,
    `The write was committed on this node but not confirmed in the replica: ${why}. It is lost if this node fails before Litestream ships it; retry with the same idempotencyKey.`,
  );
}
