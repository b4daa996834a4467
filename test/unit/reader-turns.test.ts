import { describe, expect, it } from 'vitest';
import { ReaderTurns } from '../../src/cluster/reader-turns.ts';

/** Whether `promise` has settled after the microtasks queued now ran. */
async function settled<T>(promise: Promise<T>): Promise<{ value: T } | null> {
  let result: { value: T } | null = null;
  void promise.then((value) => {
    result = { value };
  });
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe('ReaderTurns (which read workers still may read a file the writer wants back)', () => {
  it('waits for every live read worker that was sent an older turn to take the asked one', async () => {
    const turns = new ReaderTurns();
    turns.sent(1, 3);
    turns.sent(2, 3);
    turns.took(1, 3);
    turns.took(2, 3);
    // The writer swapped files at turn 4: both workers were sent it.
    turns.sent(1, 4);
    turns.sent(2, 4);
    const asked = turns.taken(4, 10_000);
    turns.took(1, 4);
    expect(await settled(asked)).toBeNull();
    // A later turn (the same file, fresher) counts too.
    turns.took(2, 5);
    expect(await settled(asked)).toEqual({ value: [] });
  });

  it('does not wait for a worker that exited, nor for one only ever sent the asked turn or later', async () => {
    const turns = new ReaderTurns();
    turns.sent(1, 1);
    turns.sent(2, 4);
    turns.sent(3, 5);
    const asked = turns.taken(4, 10_000);
    expect(await settled(asked)).toBeNull();
    turns.gone(1);
    expect(await settled(asked)).toEqual({ value: [] });
    // Never sent anything: it holds no file.
    expect(await settled(new ReaderTurns().taken(7, 10_000))).toEqual({ value: [] });
  });

  it('names the workers that did not take the turn within the bound, and never says they did', async () => {
    const turns = new ReaderTurns();
    turns.sent(1, 1);
    turns.sent(2, 1);
    turns.took(2, 2);
    expect(await turns.taken(2, 20)).toEqual([1]);
    // An answer of a turn older than the asked one changes nothing.
    turns.took(1, 1);
    expect(await turns.taken(2, 20)).toEqual([1]);
  });
});
