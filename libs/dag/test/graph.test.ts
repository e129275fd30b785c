import { describe, expect, it } from 'vitest';
import { DagCycleError, DagUnknownNodeError, Graph, GraphBuilder } from '@maestro/dag';
import { edgeList, graphOf } from './helpers.js';

describe('GraphBuilder', () => {
  it('assigns ids in order, after the ones given up front', () => {
    const b = new GraphBuilder(3);
    expect(b.addNode()).toBe(3);
    expect(b.addNode()).toBe(4);
    expect(b.nodeCount).toBe(5);
    expect(new GraphBuilder().addNode()).toBe(0);
  });

  it('builds a diamond with sorted children and parents', () => {
    const b = new GraphBuilder();
    const [a, x, y, z] = [b.addNode(), b.addNode(), b.addNode(), b.addNode()];
    b.addEdge(a, y);
    b.addEdge(a, x);
    b.addEdge(y, z);
    b.addEdge(x, z);
    const g = b.build();
    expect(g.nodeCount).toBe(4);
    expect(g.edgeCount).toBe(4);
    expect([...g.children(0)]).toEqual([1, 2]);
    expect([...g.parents(3)]).toEqual([1, 2]);
    expect([...g.parents(0)]).toEqual([]);
    expect([...g.children(3)]).toEqual([]);
    expect(g.childCount(0)).toBe(2);
    expect(g.parentCount(3)).toBe(2);
    expect(g.parentCount(0)).toBe(0);
  });

  it('keeps duplicate edges once', () => {
    const b = new GraphBuilder(3);
    for (let k = 0; k < 3; k++) {
      b.addEdge(0, 2);
      b.addEdge(0, 1);
      b.addEdge(1, 2);
    }
    expect(b.addedEdgeCount).toBe(9);
    const g = b.build();
    expect(g.edgeCount).toBe(3);
    expect(edgeList(g)).toEqual(['0->1', '0->2', '1->2']);
    expect([...g.parents(2)]).toEqual([0, 1]);
  });

  it('grows past its initial edge capacity', () => {
    const b = new GraphBuilder(100);
    for (let i = 1; i < 100; i++) b.addEdge(0, i);
    const g = b.build();
    expect(g.edgeCount).toBe(99);
    expect(g.children(0)).toHaveLength(99);
    expect([...g.parents(57)]).toEqual([0]);
  });

  it('rejects a self-edge as a one-node cycle', () => {
    const b = new GraphBuilder(2);
    let err: unknown;
    try {
      b.addEdge(1, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DagCycleError);
    expect((err as DagCycleError).code).toBe('DAG_CYCLE');
    expect((err as DagCycleError).cycle).toEqual([1, 1]);
    expect((err as DagCycleError).message).toBe('dependency cycle: 1 -> 1');
  });

  it('rejects ids that are not nodes yet', () => {
    const b = new GraphBuilder(2);
    expect(() => b.addEdge(0, 2)).toThrow(DagUnknownNodeError);
    expect(() => b.addEdge(-1, 0)).toThrow(DagUnknownNodeError);
    expect(() => b.addEdge(0.5, 1)).toThrow(DagUnknownNodeError);
    expect(() => b.addEdge(0, 2)).toThrow('node 2 does not exist: node ids are integers 0..1');
    b.addNode();
    expect(() => b.addEdge(0, 2)).not.toThrow();
  });

  it('rejects a bad node count', () => {
    expect(() => new GraphBuilder(-1)).toThrow(RangeError);
    expect(() => new GraphBuilder(1.5)).toThrow(RangeError);
  });

  it('is not affected by edges added after build()', () => {
    const b = new GraphBuilder(3);
    b.addEdge(0, 1);
    const g = b.build();
    b.addEdge(1, 2);
    expect(g.edgeCount).toBe(1);
    expect(b.build().edgeCount).toBe(2);
  });
});

describe('Graph', () => {
  it('returns views into shared storage, not copies', () => {
    const g = graphOf(4, [
      [0, 1],
      [0, 2],
      [2, 3],
    ]);
    const a = g.children(0);
    const b = g.children(2);
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset).not.toBe(b.byteOffset);
    expect(g.parents(3).buffer).toBe(g.parents(1).buffer);
  });

  it('fromEdges sorts and de-duplicates whatever order edges come in', () => {
    const g = Graph.fromEdges(5, [4, 0, 3, 0, 1, 0, 3], [2, 4, 1, 2, 2, 4, 1]);
    expect(g.edgeCount).toBe(5);
    expect(edgeList(g)).toEqual(['0->2', '0->4', '1->2', '3->1', '4->2']);
    expect([...g.children(0)]).toEqual([2, 4]);
    expect([...g.parents(2)]).toEqual([0, 1, 4]);
    expect([...g.parents(1)]).toEqual([3]);
  });

  it('fromEdges accepts typed arrays', () => {
    const g = Graph.fromEdges(3, Int32Array.of(0, 1), Uint32Array.of(1, 2));
    expect(edgeList(g)).toEqual(['0->1', '1->2']);
  });

  it('handles empty graphs and isolated nodes', () => {
    const empty = Graph.fromEdges(0, [], []);
    expect(empty.nodeCount).toBe(0);
    expect(empty.edgeCount).toBe(0);
    const isolated = Graph.fromEdges(3, [], []);
    expect([...isolated.children(1)]).toEqual([]);
    expect(() => empty.children(0)).toThrow('node 0 does not exist: the graph has no nodes');
  });

  it('fromEdges rejects mismatched lists, bad ids and self-edges', () => {
    expect(() => Graph.fromEdges(3, [0, 1], [1])).toThrow(RangeError);
    expect(() => Graph.fromEdges(3, [0], [3])).toThrow(DagUnknownNodeError);
    expect(() => Graph.fromEdges(3, [Number.NaN], [1])).toThrow(DagUnknownNodeError);
    expect(() => Graph.fromEdges(3, [0, 2], [1, 2])).toThrow(DagCycleError);
    expect(() => Graph.fromEdges(-1, [], [])).toThrow(RangeError);
  });

  it('children() and parents() reject unknown nodes with the allowed range', () => {
    const g = graphOf(2, [[0, 1]]);
    let err: unknown;
    try {
      g.parents(2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DagUnknownNodeError);
    expect((err as DagUnknownNodeError).code).toBe('DAG_UNKNOWN_NODE');
    expect((err as DagUnknownNodeError).node).toBe(2);
  });
});
