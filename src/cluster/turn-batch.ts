/**
 * Collects what is handed in during one turn of the event loop and delivers it as one list
 * when the turn ends (setImmediate, after the I/O callbacks of the turn): under load the writer
 * commits several mutations per turn, and each message over node:cluster's channel costs a
 * write on the sender, a read and a parse on the receiver, and a wake-up of each.
 */
export function batchPerTurn<T>(deliver: (items: T[]) => void): (item: T) => void {
  let pending: T[] = [];
  const flush = () => {
    const items = pending;
    pending = [];
    deliver(items);
  };
  return (item) => {
    if (pending.push(item) === 1) setImmediate(flush);
  };
}
