import { describe, expect, it } from 'vitest';
import { DagCycleError, GraphBuilder, topologicalOrder } from '@maestro/dag';
import { graphOf } from './helpers.js';

const order = (n: number, edges: [number, number][]) => [...topologicalOrder(graphOf(n, edges))];

describe('topologicalOrder', () => {
  it('orders a diamond', () => {
    expect(
      order(4, [
        [0, 1],
        [0, 2],
        [1, 3],
        [2, 3],
      ]),
    ).toEqual([0, 1, 2, 3]);
  });

  it('puts parents first even when their ids are higher', () => {
    expect(
      order(4, [
        [3, 0],
        [2, 3],
        [1, 2],
      ]),
    ).toEqual([1, 2, 3, 0]);
  });

  it('breaks ties by lowest id among the nodes available at each point', () => {
    // Available at first: 2 and 4. After 2: 0 becomes available and beats 4.
    expect(
      order(5, [
        [2, 0],
        [4, 1],
        [0, 3],
        [4, 3],
      ]),
    ).toEqual([2, 0, 4, 1, 3]);
  });

  it('interleaves disconnected parts by id', () => {
    expect(
      order(6, [
        [5, 0],
        [3, 1],
        [4, 2],
      ]),
    ).toEqual([3, 1, 4, 2, 5, 0]);
  });

  it('returns an empty order for an empty graph', () => {
    expect(order(0, [])).toEqual([]);
  });

  it('throws DagCycleError with the cycle', () => {
    let err: unknown;
    try {
      topologicalOrder(
        graphOf(5, [
          [0, 1],
          [1, 2],
          [2, 3],
          [3, 1],
          [3, 4],
        ]),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DagCycleError);
    expect((err as DagCycleError).code).toBe('DAG_CYCLE');
    expect((err as DagCycleError).cycle).toEqual([1, 2, 3, 1]);
    expect((err as DagCycleError).message).toBe('dependency cycle: 1 -> 2 -> 3 -> 1');
  });

  it('orders a 1,000,000-node chain given in reverse id order', () => {
    const n = 1_000_000;
    const b = new GraphBuilder(n);
    for (let i = n - 1; i > 0; i--) b.addEdge(i, i - 1);
    const result = topologicalOrder(b.build());
    expect(result).toHaveLength(n);
    let ok = true;
    for (let i = 0; i < n; i++) if (result[i] !== n - 1 - i) ok = false;
    expect(ok).toBe(true);
  }, 30_000);
});
