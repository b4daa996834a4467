import type { NodeState } from '../context.ts';
import type { Db } from '../db/client.ts';
import type { FileSharers, FollowedReads } from '../failover/followed-reads.ts';
import { askTurnTaken, tellSupervisor } from './ipc.ts';
import type { HostState } from './messages.ts';
import { processRole } from './role.ts';

/**
 * How often the writer looks at its node: a lease lost, a takeover, Litestream down, a
 * standby's data found fresh again reach the read workers within this. Writes never depend on
 * it: the writer alone executes them.
 */
const PUBLISH_EVERY_MS = 50;

let current: { db: Db; node: NodeState } | null = null;
/** A standby's followed reads, once it serves a file (the newest FollowedReads that said so). */
let followed: FollowedReads | null = null;
/**
 * The last state sent, its turn, and `since`: the first turn that named the same data (the
 * same file, or the writer), which every read worker must have taken to read nothing else.
 */
let published = { text: '', data: '', turn: 0, since: 0 };
/** The newest turn every live read worker took, as the supervisor said. */
let takenTurn = 0;

/** src/http/yoga.ts's hook: the writer's newest app is the one it serves (a takeover replaces it). */
export function reportApp(db: Db, node: NodeState): void {
  if (processRole() === 'writer') current = { db, node };
}

/**
 * What the read workers may serve. A primary that may write: its file. A standby: the followed
 * file its writer serves now, with its position and freshness, so that a read worker applies
 * the standby's rules itself. Anything else (starting, deposed, a primary that may not write):
 * every request goes to the writer, which answers as a lone process would.
 */
function hostState(): HostState {
  if (!current) return { reads: 'writer' };
  const { db, node } = current;
  if (node.describe().role === 'primary' && node.whyReadOnly() === null) {
    return { reads: 'primary', databasePath: db.$client.name };
  }
  // Served while the node stands by or promotes (or stands by again after a promotion failed);
  // closed once it is primary.
  const file = followed?.served;
  if (file) return { reads: 'followed', file: { ...file, position: { ...file.position } } };
  return { reads: 'writer' };
}

/** Which data a state has read workers read, and how: a file, or none of their own. */
const dataOf = (state: HostState) =>
  `${state.reads}:${state.reads === 'primary' ? state.databasePath : state.reads === 'followed' ? state.file.path : ''}`;

/**
 * Sends the host state to the supervisor if it changed since last sent (a standby's data is
 * fresher at every round: a new turn each time). Returns the first turn of the data named now.
 */
function publish(): number {
  const state = hostState();
  const text = JSON.stringify(state);
  if (text !== published.text) {
    const turn = published.turn + 1;
    const data = dataOf(state);
    published = { text, data, turn, since: data === published.data ? published.since : turn };
    tellSupervisor({ type: 'cluster:host-state', state, turn });
  }
  return published.since;
}

/** Publishes the host state whenever it changes; returns the stop. */
export function publishHostState(): () => void {
  publish();
  const timer = setInterval(publish, PUBLISH_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The writer of a standby host (WORKERS > 1): its FollowedReads tells the read workers each
 * file it serves at once, and hands a file back to the follower only once every live read
 * worker took a state that no longer names it (src/cluster/reader-turns.ts). Undefined in a
 * lone process or a read worker.
 */
export function readWorkersOfHost(): FileSharers | undefined {
  if (processRole() !== 'writer') return undefined;
  return {
    served(reads) {
      followed = reads;
      publish();
    },
    async letGo({ evict }) {
      // A worker that took any turn from this one on reads the file served now, and only it.
      const turn = publish();
      if (takenTurn >= turn) return;
      if (!(await askTurnTaken(turn, evict))) {
        throw new Error(`a read worker did not let go of the followed file it read within the bound (turn ${turn})`);
      }
      takenTurn = turn;
    },
  };
}
