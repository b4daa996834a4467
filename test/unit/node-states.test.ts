import { describe, expect, it } from 'vitest';
import { checkTransition, type NodeKind, TransitionError } from '../../src/failover/states.ts';

const KINDS: NodeKind[] = ['starting', 'standby', 'promoting', 'primary', 'deposed', 'stopping', 'stopped'];

describe('the states of a fenced node', () => {
  it('allows exactly the documented changes', () => {
    const allowed = KINDS.flatMap((from) =>
      KINDS.filter((to) => from !== to)
        .filter((to) => {
          try {
            checkTransition(from, to);
            return true;
          } catch (error) {
            expect(error).toBeInstanceOf(TransitionError);
            return false;
          }
        })
        .map((to) => `${from} → ${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'starting → standby',
        'starting → promoting',
        'standby → promoting',
        'promoting → primary',
        'promoting → standby',
        'promoting → starting',
        'primary → deposed',
        'deposed → primary',
        'deposed → starting',
        ...['starting', 'standby', 'promoting', 'primary', 'deposed'].map((from) => `${from} → stopping`),
        'stopping → stopped',
      ].sort(),
    );
  });

  it('never lets a standby write without promoting, nor a deposed node stand by without starting over', () => {
    expect(() => checkTransition('standby', 'primary')).toThrow(/from standby to primary/);
    expect(() => checkTransition('deposed', 'standby')).toThrow(TransitionError);
    expect(() => checkTransition('primary', 'standby')).toThrow(TransitionError);
    // Stopped is the end: nothing follows it, and a stopping node only ends stopped.
    expect(() => checkTransition('stopped', 'standby')).toThrow(TransitionError);
    expect(() => checkTransition('stopping', 'primary')).toThrow(TransitionError);
    // Staying what it is, with new resources (a new app), is no change of kind.
    expect(() => checkTransition('primary', 'primary')).not.toThrow();
  });
});
