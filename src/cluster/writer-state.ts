import type { NodeState } from '../context.ts';
import type { Db } from '../db/client.ts';
import type { FileSharers, ServedFile } from '../host/host.ts';
import type { SupervisorChannel } from './ipc.ts';
import type { HostState } from './messages.ts';

/**
 * How often the writer looks at its node: a lease lost, a takeover, Litestream down, a
 * standby's data found fresh again reach the read workers within this. Writes never depend on
 * it: the writer alone executes them.
 */
const PUBLISH_EVERY_MS = 50;

/**
 * The writer's side of what its read workers serve: its newest app's file and node, and on a
 * standby the followed file it serves, published to the supervisor whenever they change.
 */
export class WriterState {
  #current: { db: Db; node: NodeState } | null = null;
  /** A standby's followed reads, once it serves a file (the newest that said so). */
  #followed: { readonly served: Readonly<ServedFile> | null } | null = null;
  /**
   * The last state sent, its turn, and `since`: the first turn that named the same data (the
   * same file, or the writer), which every read worker must have taken to read nothing else.
   */
  #published = { text: '', data: '', turn: 0, since: 0 };
  /** The newest turn every live read worker took, as the supervisor said. */
  #takenTurn = 0;

  constructor(private readonly channel: SupervisorChannel) {}

  /** The writer's newest app is the one it serves (a takeover replaces it). */
  appServed(db: Db, node: NodeState): void {
    this.#current = { db, node };
  }

  /**
   * What the read workers may serve. A primary that may write: its file. A standby: the followed
   * file its writer serves now, with its position and freshness, so that a read worker applies
   * the standby's rules itself. Anything else (starting, deposed, a primary that may not write):
   * every request goes to the writer, which answers as a lone process would.
   */
  state(): HostState {
    if (!this.#current) return { reads: 'writer' };
    const { db, node } = this.#current;
    if (node.describe().role === 'primary' && node.whyReadOnly() === null) {
      return { reads: 'primary', databasePath: db.$client.name };
    }
    // Served while the node stands by or promotes (or stands by again after a promotion failed);
    // closed once it is primary.
    const file = this.#followed?.served;
    if (file) return { reads: 'followed', file: { ...file, position: { ...file.position } } };
    return { reads: 'writer' };
  }

  /**
   * Sends the host state to the supervisor if it changed since last sent (a standby's data is
   * fresher at every round: a new turn each time). Returns the first turn of the data named now.
   */
  publish(): number {
    const state = this.state();
    const text = JSON.stringify(state);
    if (text !== this.#published.text) {
      const turn = this.#published.turn + 1;
      const data = dataOf(state);
      const since = data === this.#published.data ? this.#published.since : turn;
      this.#published = { text, data, turn, since };
      this.channel.tell({ type: 'cluster:host-state', state, turn });
    }
    return this.#published.since;
  }

  /** Publishes the host state whenever it changes; returns the stop. */
  publishing(): () => void {
    this.publish();
    const timer = setInterval(() => this.publish(), PUBLISH_EVERY_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * A standby's FollowedReads tells the read workers each file it serves at once, and hands a
   * file back to the follower only once every live read worker took a state that no longer
   * names it (src/cluster/reader-turns.ts).
   */
  readonly sharers: FileSharers = {
    served: (reads) => {
      this.#followed = reads;
      this.publish();
    },
    letGo: async ({ evict }) => {
      // A worker that took any turn from this one on reads the file served now, and only it.
      const turn = this.publish();
      if (this.#takenTurn >= turn) return;
      if (!(await this.channel.turnTaken(turn, evict))) {
        throw new Error(`a read worker did not let go of the followed file it read within the bound (turn ${turn})`);
      }
      this.#takenTurn = turn;
    },
  };
}

/** Which data a state has read workers read, and how: a file, or none of their own. */
const dataOf = (state: HostState) =>
  `${state.reads}:${state.reads === 'primary' ? state.databasePath : state.reads === 'followed' ? state.file.path : ''}`;
