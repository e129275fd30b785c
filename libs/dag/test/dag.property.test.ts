/**
 * Property tests over random graphs: small enough to check against slow reference algorithms.
 * Graphs are generated with edges from lower to higher id (so they are DAGs), then optionally
 * relabelled by a random permutation so ids no longer follow the order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DagCycleError, findCycle, type Graph, ReadinessTracker, topologicalOrder } from '@maestro/dag';
import { graphOf, makeRandom, pick, slowSmallestOrder } from './helpers.js';

interface RandomDag {
  graph: Graph;
  passThrough: Uint8Array;
  seed: number;
}

/** n nodes, up to 3n edges from lower to higher id, about a quarter of nodes pass-through. */
const forwardEdges = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    edges: fc
      .array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 3 * n })
      .map((pairs) => pairs.filter(([a, b]) => a !== b).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const)),
    passThrough: fc.array(fc.nat(3), { minLength: n, maxLength: n }),
    seed: fc.integer(),
  }),
);

function relabel(n: number, edges: readonly (readonly [number, number])[], seed: number) {
  const random = makeRandom(seed);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = pick(random, i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return edges.map(([a, b]) => [perm[a]!, perm[b]!] as const);
}

const dagArb = (shuffled: boolean): fc.Arbitrary<RandomDag> =>
  forwardEdges.map(({ n, edges, passThrough, seed }) => ({
    graph: graphOf(n, shuffled ? relabel(n, edges, seed) : edges),
    passThrough: Uint8Array.from(passThrough, (x) => (x === 0 ? 1 : 0)),
    seed,
  }));

function assertRespectsEdges(graph: Graph, order: Int32Array): void {
  const position = new Int32Array(graph.nodeCount).fill(-1);
  order.forEach((node, i) => {
    expect(position[node]).toBe(-1);
    position[node] = i;
  });
  for (let p = 0; p < graph.nodeCount; p++) {
    expect(position[p]).toBeGreaterThanOrEqual(0);
    for (const c of graph.children(p)) expect(position[p]).toBeLessThan(position[c]!);
  }
}

/** Strict ancestors of `node`. */
function ancestors(graph: Graph, node: number): Set<number> {
  const seen = new Set<number>();
  const stack = [...graph.parents(node)];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    stack.push(...graph.parents(p));
  }
  return seen;
}

const allStates = (t: ReadinessTracker, n: number) => Array.from({ length: n }, (_, i) => t.state(i));
const allRemaining = (t: ReadinessTracker, n: number) => Array.from({ length: n }, (_, i) => t.remainingParents(i));

describe('topologicalOrder (property)', () => {
  it('on DAGs with edges from lower to higher id: respects every edge (and is 0..n-1)', () => {
    fc.assert(
      fc.property(dagArb(false), ({ graph }) => {
        const order = topologicalOrder(graph);
        assertRespectsEdges(graph, order);
        expect([...order]).toEqual(Array.from({ length: graph.nodeCount }, (_, i) => i));
      }),
    );
  });

  it('on relabelled DAGs: respects every edge and equals the lowest-id-first reference', () => {
    fc.assert(
      fc.property(dagArb(true), ({ graph }) => {
        const order = topologicalOrder(graph);
        assertRespectsEdges(graph, order);
        expect([...order]).toEqual(slowSmallestOrder(graph));
      }),
    );
  });

  it('on arbitrary digraphs: finds a real cycle exactly when the graph has one', () => {
    const digraph = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        edges: fc
          .array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 2 * n })
          .map((pairs) => pairs.filter(([a, b]) => a !== b)),
      }),
    );
    fc.assert(
      fc.property(digraph, ({ n, edges }) => {
        const graph = graphOf(n, edges);
        const acyclic = slowSmallestOrder(graph) !== undefined;
        const cycle = findCycle(graph);
        if (acyclic) {
          expect(cycle).toBeUndefined();
          expect(() => topologicalOrder(graph)).not.toThrow();
          return;
        }
        expect(cycle).toBeDefined();
        const c = cycle!;
        expect(c.length).toBeGreaterThanOrEqual(3);
        expect(c[0]).toBe(c[c.length - 1]);
        expect(new Set(c.slice(0, -1)).size).toBe(c.length - 1);
        for (let i = 0; i + 1 < c.length; i++) expect([...graph.children(c[i]!)]).toContain(c[i + 1]);
        expect(() => topologicalOrder(graph)).toThrow(DagCycleError);
      }),
    );
  });
});

describe('ReadinessTracker (property)', () => {
  it('completing ready nodes in random order completes every node exactly once, parents first', () => {
    fc.assert(
      fc.property(dagArb(true), ({ graph, passThrough, seed }) => {
        const n = graph.nodeCount;
        const random = makeRandom(seed);
        const t = new ReadinessTracker(graph, { passThrough });
        const handedOut = new Uint8Array(n);
        const pool: number[] = [];
        const take = (nodes: number[]) => {
          for (const node of nodes) {
            expect(passThrough[node]).toBe(0);
            expect(handedOut[node]).toBe(0);
            for (const p of graph.parents(node)) expect(t.state(p)).toBe('done');
            handedOut[node] = 1;
            pool.push(node);
          }
        };
        take(t.start());
        while (pool.length > 0) {
          const node = pool.splice(pick(random, pool.length), 1)[0]!;
          take(t.complete(node));
        }
        for (let i = 0; i < n; i++) {
          expect(t.state(i)).toBe('done');
          expect(handedOut[i]).toBe(passThrough[i] ? 0 : 1);
          expect(t.remainingParents(i)).toBe(0);
        }
        expect(t.unfinishedCount).toBe(0);
      }),
    );
  });

  it('with random failures: a node runs unless an ancestor failed, and is blocked (once) otherwise', () => {
    fc.assert(
      fc.property(dagArb(true), ({ graph, passThrough, seed }) => {
        const n = graph.nodeCount;
        const random = makeRandom(seed);
        const t = new ReadinessTracker(graph, { passThrough });
        const failed = new Set<number>();
        const handedOut = new Set<number>();
        const blocked = new Set<number>();
        const pool: number[] = [];
        const take = (nodes: number[]) => {
          for (const node of nodes) {
            expect(handedOut.has(node)).toBe(false);
            handedOut.add(node);
            pool.push(node);
          }
        };
        take(t.start());
        while (pool.length > 0) {
          const node = pool.splice(pick(random, pool.length), 1)[0]!;
          if (random() < 0.2) {
            failed.add(node);
            for (const b of t.fail(node)) {
              expect(passThrough[b]).toBe(0);
              expect(blocked.has(b)).toBe(false);
              blocked.add(b);
            }
          } else {
            take(t.complete(node));
          }
        }
        for (let i = 0; i < n; i++) {
          const underFailure = [...ancestors(graph, i)].some((a) => failed.has(a));
          const expected = underFailure ? 'blocked' : failed.has(i) ? 'failed' : 'done';
          expect(t.state(i)).toBe(expected);
          if (!passThrough[i]) expect(blocked.has(i)).toBe(underFailure);
        }
        expect(t.unfinishedCount).toBe(0);
      }),
    );
  });

  it('restore() after a random partial run matches the live tracker, now and for the rest of the run', () => {
    fc.assert(
      fc.property(dagArb(true), fc.boolean(), ({ graph, passThrough, seed }, reportBlockedAsFailed) => {
        const n = graph.nodeCount;
        const random = makeRandom(seed);
        const live = new ReadinessTracker(graph, { passThrough });
        const pool = live.start();
        const stopAfter = pick(random, n + 1);
        for (let step = 0; step < stopAfter && pool.length > 0; step++) {
          const node = pool.splice(pick(random, pool.length), 1)[0]!;
          if (random() < 0.2) live.fail(node);
          else pool.push(...live.complete(node));
        }

        const before = allStates(live, n);
        const { tracker, ready } = ReadinessTracker.restore(
          graph,
          (i) => before[i] === 'done',
          (i) => before[i] === 'failed' || (reportBlockedAsFailed && before[i] === 'blocked'),
          { passThrough },
        );
        const liveReady = before.flatMap((s, i) => (s === 'ready' ? [i] : []));
        expect(ready).toEqual(liveReady);
        expect([...pool].sort((a, b) => a - b)).toEqual(liveReady);
        expect(allRemaining(tracker, n)).toEqual(allRemaining(live, n));
        expect(tracker.unfinishedCount).toBe(live.unfinishedCount);
        const restoredStates = allStates(tracker, n);
        if (reportBlockedAsFailed) {
          // Real blocked nodes come back as failed, as reported; pass-through ones stay blocked.
          expect(restoredStates).toEqual(before.map((s, i) => (s === 'blocked' && !passThrough[i] ? 'failed' : s)));
        } else {
          expect(restoredStates).toEqual(before);
        }

        // Drive both the same way to the end: they must agree at every step.
        while (pool.length > 0) {
          const node = pool.splice(pick(random, pool.length), 1)[0]!;
          if (random() < 0.2) {
            expect(tracker.fail(node)).toEqual(live.fail(node));
          } else {
            const next = live.complete(node);
            expect(tracker.complete(node)).toEqual(next);
            pool.push(...next);
          }
        }
        expect(tracker.unfinishedCount).toBe(0);
        expect(live.unfinishedCount).toBe(0);
      }),
    );
  });

  it('restore() gives the same ready set as replaying the same completions in another order', () => {
    fc.assert(
      fc.property(dagArb(true), ({ graph, passThrough, seed }) => {
        const n = graph.nodeCount;
        const random = makeRandom(seed);
        // Random done/failed sets that a run can produce: grow them by running in random order.
        const run = new ReadinessTracker(graph, { passThrough });
        const pool = run.start();
        const stopAfter = pick(random, n + 1);
        const done = new Set<number>();
        const failed = new Set<number>();
        for (let step = 0; step < stopAfter && pool.length > 0; step++) {
          const node = pool.splice(pick(random, pool.length), 1)[0]!;
          if (random() < 0.2) {
            failed.add(node);
            run.fail(node);
          } else {
            done.add(node);
            pool.push(...run.complete(node));
          }
        }

        // Replay: lowest id first among the nodes that can be applied.
        const replay = new ReadinessTracker(graph, { passThrough });
        const ready = new Set(replay.start());
        for (let progress = true; progress;) {
          progress = false;
          for (const node of [...ready].sort((a, b) => a - b)) {
            if (done.has(node)) {
              ready.delete(node);
              for (const r of replay.complete(node)) ready.add(r);
              progress = true;
            } else if (failed.has(node)) {
              ready.delete(node);
              replay.fail(node);
              progress = true;
            }
          }
        }

        const restored = ReadinessTracker.restore(
          graph,
          (i) => done.has(i),
          (i) => failed.has(i),
          { passThrough },
        );
        expect(restored.ready).toEqual([...ready].sort((a, b) => a - b));
        expect(allStates(restored.tracker, n)).toEqual(allStates(replay, n));
      }),
    );
  });
});
