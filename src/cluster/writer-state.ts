import type { NodeState } from '../context.ts';
import type { Db } from '../db/client.ts';
import { tellSupervisor } from './ipc.ts';
import type { HostState } from './messages.ts';
import { processRole } from './role.ts';

/**
 * How often the writer looks at its node: a lease lost, a takeover, Litestream down reach the
 * read workers within this. Writes never depend on it: the writer alone executes them.
 */
const PUBLISH_EVERY_MS = 50;

let current: { db: Db; node: NodeState } | null = null;

/** src/http/yoga.ts's hook: the writer's newest app is the one it serves (a takeover replaces it). */
export function reportApp(db: Db, node: NodeState): void {
  if (processRole() === 'writer') current = { db, node };
}

/**
 * Read workers answer reads from the writer's file only while the writer is a primary that
 * may write: a standby's, a deposed primary's or a starting node's file is not the truth, and
 * the writer answers those requests itself, as a lone process would.
 */
function hostState(): HostState {
  if (!current) return { serveReads: false, databasePath: null };
  const { db, node } = current;
  const serveReads = node.describe().role === 'primary' && node.whyReadOnly() === null;
  return { serveReads, databasePath: serveReads ? db.$client.name : null };
}

/** Sends the host state to the supervisor whenever it changes; returns the stop. */
export function publishHostState(): () => void {
  let last = '';
  const publish = () => {
    const state = hostState();
    const text = JSON.stringify(state);
    if (text === last) return;
    last = text;
    tellSupervisor({ type: 'cluster:host-state', state });
  };
  publish();
  const timer = setInterval(publish, PUBLISH_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
