import type { Graph } from './graph.js';

const UNSEEN = 0;
const ON_PATH = 1;
const FINISHED = 2;

/**
 * Finds a dependency cycle, or returns `undefined` if the graph is acyclic.
 * The cycle lists node ids along child edges with the first repeated at the end: `[a, b, c, a]`
 * means a -> b -> c -> a. Deterministic: depth-first from the lowest id, children in ascending order.
 * O(V+E) time, iterative (an explicit stack in typed arrays, so million-deep chains are fine).
 */
export function findCycle(graph: Graph): number[] | undefined {
  const n = graph.nodeCount;
  const { childOffsets, childTargets } = graph.csrInternal();
  const mark = new Uint8Array(n);
  // The current DFS path and, per entry, the position in `childTargets` of its next child to visit.
  const path = new Int32Array(n);
  const nextChild = new Int32Array(n);
  for (let root = 0; root < n; root++) {
    if (mark[root] !== UNSEEN) continue;
    let depth = 0;
    path[0] = root;
    nextChild[0] = childOffsets[root]!;
    mark[root] = ON_PATH;
    while (depth >= 0) {
      const node = path[depth]!;
      const k = nextChild[depth]!;
      if (k === childOffsets[node + 1]!) {
        mark[node] = FINISHED;
        depth--;
        continue;
      }
      nextChild[depth] = k + 1;
      const child = childTargets[k]!;
      if (mark[child] === ON_PATH) {
        // `child` is on the path: the cycle is the path from it to here, then back to it.
        let from = depth;
        while (path[from] !== child) from--;
        const cycle = Array.from(path.subarray(from, depth + 1));
        cycle.push(child);
        return cycle;
      }
      if (mark[child] === UNSEEN) {
        mark[child] = ON_PATH;
        depth++;
        path[depth] = child;
        nextChild[depth] = childOffsets[child]!;
      }
    }
  }
  return undefined;
}
