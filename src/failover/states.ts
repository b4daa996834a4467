/**
 * The kinds of state a fenced node goes through, and the only changes between them
 * (src/failover/node.ts changes state through checkTransition alone):
 *
 * - starting → standby (following the replica), or → promoting (`serve` on a free lease);
 * - standby → promoting (the primary is gone, or the lease is free);
 * - promoting → primary, or back to standby (or starting, had it not stood by yet) on failure;
 * - primary → deposed (its lease lapsed or was taken);
 * - deposed → primary (the lease taken up again: nobody held it since), or → starting, on the
 *   way to standing by for the node that took it;
 * - any of these → stopping (SIGTERM, or a loop failed), then → stopped. A stopping node
 *   starts nothing new (no promotion, no standing by again, no regain), but finishes the step
 *   under way: the role it is stopping still changes by this table (a promotion under way ends
 *   as primary, and a primary is deposed if its lease lapses meanwhile).
 */
export type NodeKind = 'starting' | 'standby' | 'promoting' | 'primary' | 'deposed' | 'stopping' | 'stopped';

const NEXT: Readonly<Record<NodeKind, readonly NodeKind[]>> = {
  starting: ['standby', 'promoting', 'stopping'],
  standby: ['promoting', 'stopping'],
  promoting: ['primary', 'standby', 'starting', 'stopping'],
  primary: ['deposed', 'stopping'],
  deposed: ['primary', 'starting', 'stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/** A change of state the table does not allow: a bug in the node, never an operator's error. */
export class TransitionError extends Error {
  override name = 'TransitionError';
}

/** Throws unless `from` may become `to` (staying the same kind is always allowed: new resources). */
export function checkTransition(from: NodeKind, to: NodeKind): void {
  if (from !== to && !NEXT[from].includes(to)) throw new TransitionError(`a node cannot go from ${from} to ${to}`);
}
