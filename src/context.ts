import type { Authentication, Viewer } from './auth.ts';
import type { Db } from './db/client.ts';
import type { ReviewEvents } from './pubsub.ts';

/**
 * What this node is now. The primary may lose the right to write (its lease, or the
 * replication it depends on); a standby never has it.
 */
export interface NodeState {
  /** Why writes are refused now, or null when this node may write. */
  whyReadOnly(): string | null;
  /** Role and replication figures for /ready and the logs. */
  describe(): Record<string, unknown>;
  /**
   * Why a load balancer should send this node nothing at all now (/ready 503), or null: a
   * primary whose lease lapsed neither writes nor follows anyone, so its reads fall behind.
   */
  whyNotReady?(): string | null;
  /**
   * DURABILITY=replicated: resolves once every write committed so far is in the replica,
   * rejects after the bound. Absent on a node that cannot tell (src/durability/plugin.ts).
   */
  confirmWrites?(): Promise<void>;
}

/** A primary with nothing to lose its right to write: tests and REPLICATION=off. */
export const standalonePrimary: NodeState = {
  whyReadOnly: () => null,
  describe: () => ({ role: 'primary', replication: 'off' }),
};

export interface Context {
  db: Db;
  auth: Authentication;
  viewer: Viewer | null;
  node: NodeState;
  /** The live-update channel: mutations publish, subscriptions listen (src/pubsub.ts). */
  events: ReviewEvents;
  /**
   * Told by runWrite once its transaction has committed: the fast lane hands a mutation it ran
   * on to Yoga only if nothing did (src/http/mutation-lane.ts).
   */
  committed?: () => void;
}
