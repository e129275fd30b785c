import { describe, expect, it } from 'vitest';
import { DagInvalidTransitionError, DagUnknownNodeError, ReadinessTracker } from '@maestro/dag';
import { flags, graphOf, sorted } from './helpers.js';

/** 0 -> {1, 2} -> 3 */
const diamond = () =>
  graphOf(4, [
    [0, 1],
    [0, 2],
    [1, 3],
    [2, 3],
  ]);

/**
 * Funnel through a pass-through barrier: parents 0, 1, 2 -> barrier 3 -> children 4, 5.
 * 6 edges instead of 3 x 2 direct ones.
 */
const funnel = () =>
  graphOf(6, [
    [0, 3],
    [1, 3],
    [2, 3],
    [3, 4],
    [3, 5],
  ]);

function errorOf(fn: () => unknown): DagInvalidTransitionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DagInvalidTransitionError) return e;
    throw e;
  }
  throw new Error('expected a DagInvalidTransitionError');
}

describe('ReadinessTracker: running to completion', () => {
  it('walks a diamond', () => {
    const t = new ReadinessTracker(diamond());
    expect(t.state(0)).toBe('waiting');
    expect(t.start()).toEqual([0]);
    expect(t.state(0)).toBe('ready');
    expect(t.complete(0)).toEqual([1, 2]);
    expect(t.remainingParents(3)).toBe(2);
    expect(t.complete(2)).toEqual([]);
    expect(t.remainingParents(3)).toBe(1);
    expect(t.state(3)).toBe('waiting');
    expect(t.complete(1)).toEqual([3]);
    expect(t.unfinishedCount).toBe(1);
    expect(t.complete(3)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
    expect([0, 1, 2, 3].map((i) => t.state(i))).toEqual(['done', 'done', 'done', 'done']);
  });

  it('releases a funnel through a pass-through node, which is never handed out', () => {
    const t = new ReadinessTracker(funnel(), { passThrough: flags(6, [3]) });
    expect(t.unfinishedCount).toBe(5);
    expect(t.start()).toEqual([0, 1, 2]);
    expect(t.complete(1)).toEqual([]);
    expect(t.complete(0)).toEqual([]);
    expect(t.state(3)).toBe('waiting');
    expect(t.remainingParents(3)).toBe(1);
    expect(t.complete(2)).toEqual([4, 5]);
    expect(t.state(3)).toBe('done');
    expect(t.remainingParents(4)).toBe(0);
    expect(t.complete(4)).toEqual([]);
    expect(t.complete(5)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  });

  it('cascades through chained pass-through nodes, roots included', () => {
    // 0 (pass, root) -> 1 (pass) -> 2; 3 -> 4 (pass) -> 5
    const g = graphOf(6, [
      [0, 1],
      [1, 2],
      [3, 4],
      [4, 5],
    ]);
    const t = new ReadinessTracker(g, { passThrough: flags(6, [0, 1, 4]) });
    expect(t.start()).toEqual([2, 3]);
    expect(t.state(0)).toBe('done');
    expect(t.state(1)).toBe('done');
    expect(t.complete(3)).toEqual([5]);
    expect(t.state(4)).toBe('done');
  });

  it('handles fan-out then fan-in', () => {
    // 0 -> 1..4 -> 5
    const edges: [number, number][] = [];
    for (let i = 1; i <= 4; i++) edges.push([0, i], [i, 5]);
    const t = new ReadinessTracker(graphOf(6, edges));
    expect(t.start()).toEqual([0]);
    expect(t.complete(0)).toEqual([1, 2, 3, 4]);
    expect(t.complete(4)).toEqual([]);
    expect(t.complete(1)).toEqual([]);
    expect(t.complete(3)).toEqual([]);
    expect(t.complete(2)).toEqual([5]);
  });

  it('runs disconnected parts independently', () => {
    // 0 -> 1, 2 alone, 3 -> 4
    const t = new ReadinessTracker(
      graphOf(5, [
        [0, 1],
        [3, 4],
      ]),
    );
    expect(t.start()).toEqual([0, 2, 3]);
    expect(t.complete(3)).toEqual([4]);
    expect(t.complete(2)).toEqual([]);
    expect(t.complete(0)).toEqual([1]);
  });

  it('treats an empty graph as finished at once', () => {
    const t = new ReadinessTracker(graphOf(0, []));
    expect(t.start()).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  });
});

describe('ReadinessTracker: failure', () => {
  it('blocks the subtree, through pass-through nodes, but not siblings or other branches', () => {
    // 0 -> 1 -> 3 (pass) -> 4 -> 5 ;  0 -> 2 (sibling of 1) ;  6 -> 7 (independent)
    const g = graphOf(8, [
      [0, 1],
      [0, 2],
      [1, 3],
      [3, 4],
      [4, 5],
      [6, 7],
    ]);
    const t = new ReadinessTracker(g, { passThrough: flags(8, [3]) });
    expect(t.start()).toEqual([0, 6]);
    expect(t.complete(0)).toEqual([1, 2]);
    expect(t.fail(1)).toEqual([4, 5]);
    expect(t.state(1)).toBe('failed');
    expect(t.state(3)).toBe('blocked');
    expect(t.state(4)).toBe('blocked');
    expect(t.state(5)).toBe('blocked');
    expect(t.state(2)).toBe('ready');
    expect(t.complete(2)).toEqual([]);
    expect(t.complete(6)).toEqual([7]);
    expect(t.complete(7)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  });

  it('blocks a node with one failed parent and one completed parent', () => {
    // 0 -> 2 <- 1, 2 -> 3
    const g = graphOf(4, [
      [0, 2],
      [1, 2],
      [2, 3],
    ]);
    const t = new ReadinessTracker(g);
    expect(t.start()).toEqual([0, 1]);
    expect(t.complete(0)).toEqual([]);
    expect(t.fail(1)).toEqual([2, 3]);
    expect(t.state(2)).toBe('blocked');
    expect(t.state(0)).toBe('done');
  });

  it('keeps a blocked node blocked when its other parent completes later', () => {
    const g = graphOf(3, [
      [0, 2],
      [1, 2],
    ]);
    const t = new ReadinessTracker(g);
    t.start();
    expect(t.fail(0)).toEqual([2]);
    expect(t.complete(1)).toEqual([]);
    expect(t.state(2)).toBe('blocked');
    expect(t.remainingParents(2)).toBe(1);
  });

  it('returns each blocked node once across overlapping failures', () => {
    // 0 -> 2, 1 -> 2, 2 -> 3, 1 -> 4
    const g = graphOf(5, [
      [0, 2],
      [1, 2],
      [2, 3],
      [1, 4],
    ]);
    const t = new ReadinessTracker(g);
    t.start();
    expect(t.fail(0)).toEqual([2, 3]);
    expect(t.fail(1)).toEqual([4]);
    expect(t.unfinishedCount).toBe(0);
  });

  it('leaves pass-through nodes out of what fail() returns', () => {
    const t = new ReadinessTracker(funnel(), { passThrough: flags(6, [3]) });
    t.start();
    t.complete(0);
    expect(t.fail(2)).toEqual([4, 5]);
    expect(t.state(3)).toBe('blocked');
    expect(t.complete(1)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  });
});

describe('ReadinessTracker: invalid use', () => {
  it('refuses to complete twice, or a waiting node', () => {
    const t = new ReadinessTracker(diamond());
    t.start();
    t.complete(0);
    const twice = errorOf(() => t.complete(0));
    expect(twice.code).toBe('DAG_INVALID_TRANSITION');
    expect(twice.action).toBe('complete');
    expect(twice.node).toBe(0);
    expect(twice.message).toBe('cannot complete node 0: it is done; only ready nodes can complete');
    expect(errorOf(() => t.complete(3)).message).toBe(
      'cannot complete node 3: it is waiting; only ready nodes can complete',
    );
    expect(errorOf(() => t.fail(3)).action).toBe('fail');
  });

  it('refuses to complete or fail failed and blocked nodes', () => {
    const t = new ReadinessTracker(diamond());
    t.start();
    t.fail(0);
    expect(errorOf(() => t.complete(0)).message).toContain('it is failed');
    expect(errorOf(() => t.fail(0)).message).toContain('it is failed');
    expect(errorOf(() => t.complete(1)).message).toContain('it is blocked');
    expect(errorOf(() => t.fail(3)).message).toContain('it is blocked');
  });

  it('refuses to complete a pass-through node', () => {
    const t = new ReadinessTracker(funnel(), { passThrough: flags(6, [3]) });
    t.start();
    expect(errorOf(() => t.complete(3)).message).toBe(
      'cannot complete node 3: it is a pass-through node, which completes by itself',
    );
  });

  it('refuses transitions before start() and a second start()', () => {
    const t = new ReadinessTracker(diamond());
    expect(errorOf(() => t.complete(0)).message).toBe('cannot complete node 0: start() was not called yet');
    t.start();
    const again = errorOf(() => t.start());
    expect(again.action).toBe('start');
    expect(again.node).toBe(-1);
  });

  it('rejects unknown nodes and a passThrough array of the wrong length', () => {
    const t = new ReadinessTracker(diamond());
    t.start();
    expect(() => t.complete(4)).toThrow(DagUnknownNodeError);
    expect(() => t.state(-1)).toThrow(DagUnknownNodeError);
    expect(() => new ReadinessTracker(diamond(), { passThrough: new Uint8Array(3) })).toThrow(RangeError);
  });
});

describe('ReadinessTracker.restore', () => {
  it('resumes a diamond halfway', () => {
    const { tracker, ready } = ReadinessTracker.restore(
      diamond(),
      (i) => i === 0 || i === 2,
      () => false,
    );
    expect(ready).toEqual([1]);
    expect(tracker.state(2)).toBe('done');
    expect(tracker.remainingParents(3)).toBe(1);
    expect(tracker.complete(1)).toEqual([3]);
    expect(tracker.unfinishedCount).toBe(1);
  });

  it('blocks below failed nodes and completes pass-through nodes whose parents are done', () => {
    // funnel 0,1,2 -> 3 (pass) -> 4,5 plus 6 -> 7 with 6 failed
    const g = graphOf(8, [
      [0, 3],
      [1, 3],
      [2, 3],
      [3, 4],
      [3, 5],
      [6, 7],
    ]);
    const pass = { passThrough: flags(8, [3]) };
    const { tracker, ready } = ReadinessTracker.restore(
      g,
      (i) => i <= 2 || i === 5,
      (i) => i === 6,
      pass,
    );
    expect(ready).toEqual([4]);
    expect(tracker.state(3)).toBe('done');
    expect(tracker.state(7)).toBe('blocked');
    expect(tracker.unfinishedCount).toBe(1);
    expect(() => tracker.start()).toThrow(DagInvalidTransitionError);
  });

  it('accepts blocked nodes reported as failed (as a caller that marks them FAILED does)', () => {
    const { tracker, ready } = ReadinessTracker.restore(
      diamond(),
      (i) => i === 0,
      (i) => i === 1 || i === 3,
    );
    expect(ready).toEqual([2]);
    expect(tracker.state(3)).toBe('failed');
    expect(tracker.complete(2)).toEqual([]);
    expect(tracker.unfinishedCount).toBe(0);
  });

  it('does not ask about pass-through nodes', () => {
    const asked: number[] = [];
    ReadinessTracker.restore(
      funnel(),
      (i) => (asked.push(i), false),
      () => false,
      { passThrough: flags(6, [3]) },
    );
    expect(sorted(asked)).toEqual([0, 1, 2, 4, 5]);
  });

  it('rejects impossible input', () => {
    const both = errorOf(() =>
      ReadinessTracker.restore(
        diamond(),
        (i) => i === 0,
        (i) => i === 0,
      ),
    );
    expect(both.action).toBe('restore');
    expect(both.message).toBe('node 0 is reported both done and failed');
    const orphan = errorOf(() =>
      ReadinessTracker.restore(
        diamond(),
        (i) => i === 0 || i === 3,
        () => false,
      ),
    );
    expect(orphan.node).toBe(3);
    expect(orphan.message).toBe('node 3 is reported done but its parent 1 is not');
  });
});
