import { describe, expect, it } from 'vitest';
import {
  DagCycleError,
  DagDuplicateNodeError,
  DagError,
  DagUnknownNodeError,
  graphFromIds,
  ReadinessTracker,
  topologicalOrder,
} from '@maestro/dag';
import { edgeList } from './helpers.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('graphFromIds', () => {
  it('numbers items in order and adds an edge from each dependency', () => {
    const { graph, ids, indexOf } = graphFromIds([
      { id: 'build', dependsOn: [] },
      { id: 'run', dependsOn: ['build'] },
      { id: 'plot', dependsOn: ['run', 'build', 'run'] },
    ]);
    expect(ids).toEqual(['build', 'run', 'plot']);
    expect(indexOf.get('plot')).toBe(2);
    expect(edgeList(graph)).toEqual(['0->1', '0->2', '1->2']);
    expect([...topologicalOrder(graph)].map((i) => ids[i])).toEqual(['build', 'run', 'plot']);
    const t = new ReadinessTracker(graph);
    expect(t.start().map((i) => ids[i])).toEqual(['build']);
  });

  it('accepts dependencies listed before the item that declares them', () => {
    const { graph, ids } = graphFromIds([
      { id: 'b', dependsOn: ['a'] },
      { id: 'a', dependsOn: [] },
    ]);
    expect([...topologicalOrder(graph)].map((i) => ids[i])).toEqual(['a', 'b']);
  });

  it('names a cycle by id', () => {
    const err = thrown(() =>
      graphFromIds([
        { id: 'setup', dependsOn: [] },
        { id: 'a', dependsOn: ['setup', 'c'] },
        { id: 'b', dependsOn: ['a'] },
        { id: 'c', dependsOn: ['b'] },
      ]),
    );
    expect(err).toBeInstanceOf(DagCycleError);
    expect(err).toBeInstanceOf(DagError);
    const cycle = err as DagCycleError;
    expect(cycle.code).toBe('DAG_CYCLE');
    expect(cycle.message).toBe('dependency cycle: a -> b -> c -> a');
    expect(cycle.cycle).toEqual([1, 2, 3, 1]);
    expect(cycle.cycleIds).toEqual(['a', 'b', 'c', 'a']);
  });

  it('rejects a step that depends on itself as a one-step cycle', () => {
    const err = thrown(() => graphFromIds([{ id: 'a', dependsOn: ['a'] }])) as DagCycleError;
    expect(err).toBeInstanceOf(DagCycleError);
    expect(err.message).toBe('dependency cycle: a -> a');
  });

  it('names an unknown dependency, where it is, and the known ids', () => {
    const err = thrown(() =>
      graphFromIds([
        { id: 'a', dependsOn: [] },
        { id: 'b', dependsOn: ['a', 'nope'] },
      ]),
    ) as DagUnknownNodeError;
    expect(err).toBeInstanceOf(DagUnknownNodeError);
    expect(err.code).toBe('DAG_UNKNOWN_NODE');
    expect(err.node).toBe('nope');
    expect(err.message).toBe('items[1] ("b").dependsOn[1]: unknown id "nope"; known ids: "a", "b"');
  });

  it('rejects duplicate ids', () => {
    const err = thrown(() =>
      graphFromIds([
        { id: 'a', dependsOn: [] },
        { id: 'a', dependsOn: [] },
      ]),
    ) as DagDuplicateNodeError;
    expect(err).toBeInstanceOf(DagDuplicateNodeError);
    expect(err.code).toBe('DAG_DUPLICATE_NODE');
    expect(err.message).toBe('items[1]: id "a" is already used by items[0]; ids must be unique');
  });

  it('builds an empty graph from no items', () => {
    const { graph, ids } = graphFromIds([]);
    expect(graph.nodeCount).toBe(0);
    expect(ids).toEqual([]);
  });
});
