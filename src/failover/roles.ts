import type { NodeState } from '../context.ts';
import type { Tenure } from '../lease/keeper.ts';
import { describeLoss } from '../lease/lease.ts';

/** The lease as /ready shows it: why it is not held as a kind to branch on, and in words. */
function describeLease(keeper: Tenure) {
  const loss = keeper.whyNotHeld();
  const { location, holder, term, regains } = keeper;
  const whyNot = loss && { ...loss, message: describeLoss(loss) };
  return { location, holder, term, held: loss === null, whyNot, regains };
}

/** Why the keeper's lease forbids writing, in words; null while it is held. */
function leaseRefusal(keeper: Tenure): string | null {
  const loss = keeper.whyNotHeld();
  return loss && describeLoss(loss);
}

/**
 * A primary fenced by its lease: it writes only while the lease is valid by its own clock, and
 * then only while its replication lets it (Litestream up). A primary that lost its lease says
 * so as role "deposed" and is not ready (no load balancer should send it anything) until it
 * takes the lease up again (src/failover/node.ts).
 */
export function fencedPrimary(
  keeper: Tenure,
  replication: NodeState,
  /** The node's own state: deposed once the lease was lost (not released on purpose). */
  isDeposed: () => boolean,
  promotions: () => Record<string, unknown>,
): NodeState {
  return {
    whyReadOnly: () => leaseRefusal(keeper) ?? replication.whyReadOnly(),
    // DURABILITY=replicated: writes are confirmed by the replication underneath (src/durability).
    ...(replication.confirmWrites && { confirmWrites: replication.confirmWrites }),
    whyNotReady: () => (isDeposed() ? `deposed: ${leaseRefusal(keeper)}` : null),
    describe() {
      const lease = describeLease(keeper);
      return {
        ...replication.describe(),
        role: isDeposed() ? 'deposed' : 'primary',
        lease,
        promotions: promotions(),
      };
    },
  };
}

export interface StandbyView {
  /** The URL watched: --primary, or the lease holder's. */
  primary: () => string | null;
  heartbeat: () => Record<string, unknown>;
  /** What the standby serves reads from, how old it is, and the follower behind it. */
  reads: () => Record<string, unknown>;
  /** Its attempts at promotion so far (PromotionHistory). */
  promotions: () => Record<string, unknown>;
}

/** A standby: serves reads from its followed data and writes nothing itself (it forwards them). */
export function standbyNode(keeper: () => Tenure, view: StandbyView): NodeState {
  return {
    whyReadOnly: () => `standby for ${view.primary() ?? 'the lease holder'}; writes go to the primary`,
    describe: () => ({
      role: 'standby',
      primary: view.primary(),
      heartbeat: view.heartbeat(),
      reads: view.reads(),
      lease: describeLease(keeper()),
      promotions: view.promotions(),
    }),
  };
}
