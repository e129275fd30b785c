import { describe, expect, it } from 'vitest';
import { studyQueues, studyWidth } from '../src/study/shape.js';

const step = (instanceCount: number, parents: number[] = [], funnelParents: number[] = []) => ({
  instanceCount,
  parents,
  funnelParents,
});

describe('studyWidth', () => {
  it('is 1 for a chain, however long', () => {
    expect(studyWidth([step(1), step(1, [0]), step(1, [1]), step(1, [2])])).toBe(1);
  });

  it('is the instance count of a single parameterised step', () => {
    expect(studyWidth([step(100)])).toBe(100);
  });

  it('adds steps that share a level, and takes the widest level', () => {
    // root -> (a: 3 instances, b: 2) -> funnel end
    expect(studyWidth([step(1), step(3, [0]), step(2, [0]), step(1, [], [1, 2])])).toBe(5);
  });

  it('places a step below its deepest parent, whichever kind', () => {
    // c depends on a (level 0) and, through a funnel, on b (level 1): c is on level 2, alone
    expect(studyWidth([step(2), step(2, [0]), step(2, [0], [1])])).toBe(2);
  });

  it('is 0 for no steps', () => {
    expect(studyWidth([])).toBe(0);
  });
});

describe('studyQueues', () => {
  it('lists the default queue first, then each task_queue once', () => {
    expect(
      studyQueues([
        { run: { cmd: 'a' } },
        { run: { cmd: 'b', task_queue: 'gpu' } },
        { run: { cmd: 'c', task_queue: 'gpu' } },
      ]),
    ).toEqual(['steps', 'gpu']);
  });
});
