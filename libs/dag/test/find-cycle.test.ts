import { describe, expect, it } from 'vitest';
import { findCycle, GraphBuilder } from '@maestro/dag';
import { graphOf } from './helpers.js';

describe('findCycle', () => {
  it('returns undefined for DAGs, including the empty graph', () => {
    expect(findCycle(graphOf(0, []))).toBeUndefined();
    expect(findCycle(graphOf(3, []))).toBeUndefined();
    const diamond = graphOf(4, [
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
    ]);
    expect(findCycle(diamond)).toBeUndefined();
  });

  it('names a three-node cycle along its edges, first node repeated', () => {
    const g = graphOf(4, [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 1],
    ]);
    expect(findCycle(g)).toEqual([1, 2, 3, 1]);
  });

  it('finds a two-node cycle', () => {
    expect(
      findCycle(
        graphOf(2, [
          [0, 1],
          [1, 0],
        ]),
      ),
    ).toEqual([0, 1, 0]);
  });

  it('finds a cycle in a later component, after acyclic ones', () => {
    const g = graphOf(7, [
      [0, 1],
      [1, 2],
      [0, 2],
      [3, 4],
      [5, 6],
      [6, 4],
      [4, 5],
    ]);
    expect(findCycle(g)).toEqual([4, 5, 6, 4]);
  });

  it('ignores reconvergent paths (cross edges are not cycles)', () => {
    // 0 -> 2 explored first reaches 3; then 1 -> 3 meets a finished node, which is fine.
    const g = graphOf(4, [
      [0, 2],
      [2, 3],
      [1, 3],
      [0, 1],
    ]);
    expect(findCycle(g)).toBeUndefined();
  });

  it('walks a 1,000,000-node chain closed into a cycle without recursion', () => {
    const n = 1_000_000;
    const b = new GraphBuilder(n);
    for (let i = 0; i + 1 < n; i++) b.addEdge(i, i + 1);
    expect(findCycle(b.build())).toBeUndefined();
    b.addEdge(n - 1, 0);
    const cycle = findCycle(b.build())!;
    expect(cycle).toHaveLength(n + 1);
    expect(cycle[0]).toBe(0);
    expect(cycle[n - 1]).toBe(n - 1);
    expect(cycle[n]).toBe(0);
  }, 30_000);
});
