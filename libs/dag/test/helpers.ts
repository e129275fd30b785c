/** Shared test helpers: a seeded PRNG, small graph makers and slow reference algorithms. */
import { Graph } from '@maestro/dag';

/** mulberry32: a tiny deterministic PRNG, so failures reproduce from the seed fast-check prints. */
export function makeRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in 0..n-1. */
export function pick(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/** Graph from `[parent, child]` pairs. */
export function graphOf(nodeCount: number, edges: readonly (readonly [number, number])[]): Graph {
  return Graph.fromEdges(
    nodeCount,
    edges.map((e) => e[0]),
    edges.map((e) => e[1]),
  );
}

/** `Uint8Array` with 1 at the given nodes. */
export function flags(nodeCount: number, nodes: readonly number[]): Uint8Array {
  const out = new Uint8Array(nodeCount);
  for (const n of nodes) out[n] = 1;
  return out;
}

/** Every edge of a graph as `"p->c"` strings, sorted. */
export function edgeList(graph: Graph): string[] {
  const out: string[] = [];
  for (let p = 0; p < graph.nodeCount; p++) for (const c of graph.children(p)) out.push(`${p}->${c}`);
  return out.sort();
}

export const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

/**
 * Reference: the smallest topological order by repeated linear scans (O(V^2 + VE)), or undefined
 * if some nodes can never be placed (a cycle).
 */
export function slowSmallestOrder(graph: Graph): number[] | undefined {
  const n = graph.nodeCount;
  const placed = new Array<boolean>(n).fill(false);
  const order: number[] = [];
  while (order.length < n) {
    let next = -1;
    for (let i = 0; i < n && next === -1; i++) {
      if (!placed[i] && [...graph.parents(i)].every((p) => placed[p])) next = i;
    }
    if (next === -1) return undefined;
    placed[next] = true;
    order.push(next);
  }
  return order;
}
