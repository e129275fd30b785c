/**
 * A million nodes, driven to the end: proves the tracker is iterative (no recursion over depth
 * or fan-out). No timing assertions; the generous timeouts only guard against hangs.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, ReadinessTracker } from '@maestro/dag';

const N = 1_000_000;

function chain(n: number) {
  const b = new GraphBuilder(n);
  for (let i = 0; i + 1 < n; i++) b.addEdge(i, i + 1);
  return b.build();
}

/** Root 0, children 1..N-1, all into pass-through barrier N, which feeds funnel child N+1. */
function fan() {
  const b = new GraphBuilder(N);
  const barrier = b.addNode();
  const funnelChild = b.addNode();
  for (let i = 1; i < N; i++) {
    b.addEdge(0, i);
    b.addEdge(i, barrier);
  }
  b.addEdge(barrier, funnelChild);
  const passThrough = new Uint8Array(b.nodeCount);
  passThrough[barrier] = 1;
  return { graph: b.build(), barrier, funnelChild, passThrough };
}

describe('ReadinessTracker at 1,000,000 nodes', () => {
  it('runs a 1,000,000-node chain to the end, one node at a time', () => {
    const t = new ReadinessTracker(chain(N));
    expect(t.start()).toEqual([0]);
    let mismatches = 0;
    for (let i = 0; i + 1 < N; i++) {
      const next = t.complete(i);
      if (next.length !== 1 || next[0] !== i + 1) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(t.complete(N - 1)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  }, 60_000);

  it('fails a 1,000,000-node chain at its root, blocking all the rest', () => {
    const t = new ReadinessTracker(chain(N));
    t.start();
    const blocked = t.fail(0);
    expect(blocked).toHaveLength(N - 1);
    expect(blocked[0]).toBe(1);
    expect(blocked[N - 2]).toBe(N - 1);
    expect(t.unfinishedCount).toBe(0);
  }, 60_000);

  it('restores a 1,000,000-node chain halfway', () => {
    const { tracker, ready } = ReadinessTracker.restore(
      chain(N),
      (i) => i < N / 2,
      () => false,
    );
    expect(ready).toEqual([N / 2]);
    expect(tracker.unfinishedCount).toBe(N / 2);
  }, 60_000);

  it('runs a fan of 999,999 children into a funnel child through a pass-through node', () => {
    const { graph, barrier, funnelChild, passThrough } = fan();
    expect(graph.edgeCount).toBe(2 * (N - 1) + 1);
    const t = new ReadinessTracker(graph, { passThrough });
    expect(t.start()).toEqual([0]);
    const children = t.complete(0);
    expect(children).toHaveLength(N - 1);
    expect(children[0]).toBe(1);
    expect(children[N - 2]).toBe(N - 1);
    let early = 0;
    for (let i = N - 1; i > 1; i--) early += t.complete(i).length;
    expect(early).toBe(0);
    expect(t.remainingParents(barrier)).toBe(1);
    expect(t.complete(1)).toEqual([funnelChild]);
    expect(t.state(barrier)).toBe('done');
    expect(t.complete(funnelChild)).toEqual([]);
    expect(t.unfinishedCount).toBe(0);
  }, 60_000);

  it('fails one of 999,999 fan children: the funnel child is blocked, the siblings still run', () => {
    const { graph, barrier, funnelChild, passThrough } = fan();
    const t = new ReadinessTracker(graph, { passThrough });
    t.start();
    t.complete(0);
    expect(t.fail(500_000)).toEqual([funnelChild]);
    expect(t.state(barrier)).toBe('blocked');
    let released = 0;
    for (let i = 1; i < N; i++) if (i !== 500_000) released += t.complete(i).length;
    expect(released).toBe(0);
    expect(t.unfinishedCount).toBe(0);
  }, 60_000);
});
