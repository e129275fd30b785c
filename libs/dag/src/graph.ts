import { DagCycleError, DagUnknownNodeError } from './errors.js';

/**
 * CSR adjacency: node `i`'s children are `childTargets[childOffsets[i] .. childOffsets[i+1]-1]`.
 * @internal
 */
export interface GraphCsrInternal {
  readonly childOffsets: Int32Array;
  readonly childTargets: Int32Array;
  readonly parentOffsets: Int32Array;
  readonly parentTargets: Int32Array;
}

/**
 * An immutable directed graph over nodes `0..nodeCount-1`, stored as two CSR tables (children and
 * parents: an `Int32Array` of offsets plus one of targets), so a million nodes and several million
 * edges cost a few typed arrays and no per-node objects. Duplicate edges are kept once; each node's
 * children and parents are sorted by id. Build one with {@link GraphBuilder} or {@link Graph.fromEdges}.
 */
export class Graph {
  /** Number of nodes; ids are `0..nodeCount-1`. */
  readonly nodeCount: number;
  /** Number of distinct edges (duplicates counted once). */
  readonly edgeCount: number;
  readonly #childOffsets: Int32Array;
  readonly #childTargets: Int32Array;
  readonly #parentOffsets: Int32Array;
  readonly #parentTargets: Int32Array;

  private constructor(
    nodeCount: number,
    childOffsets: Int32Array,
    childTargets: Int32Array,
    parentOffsets: Int32Array,
    parentTargets: Int32Array,
  ) {
    this.nodeCount = nodeCount;
    this.edgeCount = childTargets.length;
    this.#childOffsets = childOffsets;
    this.#childTargets = childTargets;
    this.#parentOffsets = parentOffsets;
    this.#parentTargets = parentTargets;
  }

  /** Children of `node`, ascending: a view into the graph's storage (no copy). Do not write to it. */
  children(node: number): Int32Array {
    checkNodeInternal(node, this.nodeCount);
    return this.#childTargets.subarray(this.#childOffsets[node]!, this.#childOffsets[node + 1]!);
  }

  /** Parents of `node`, ascending: a view into the graph's storage (no copy). Do not write to it. */
  parents(node: number): Int32Array {
    checkNodeInternal(node, this.nodeCount);
    return this.#parentTargets.subarray(this.#parentOffsets[node]!, this.#parentOffsets[node + 1]!);
  }

  /** Number of distinct children of `node`. */
  childCount(node: number): number {
    checkNodeInternal(node, this.nodeCount);
    return this.#childOffsets[node + 1]! - this.#childOffsets[node]!;
  }

  /** Number of distinct parents of `node`. */
  parentCount(node: number): number {
    checkNodeInternal(node, this.nodeCount);
    return this.#parentOffsets[node + 1]! - this.#parentOffsets[node]!;
  }

  /**
   * The raw CSR tables, for this package's O(V+E) algorithms (a `subarray` per visit would cost
   * an allocation per edge). Read-only by contract.
   * @internal not part of the public API; may change without notice.
   */
  csrInternal(): GraphCsrInternal {
    return {
      childOffsets: this.#childOffsets,
      childTargets: this.#childTargets,
      parentOffsets: this.#parentOffsets,
      parentTargets: this.#parentTargets,
    };
  }

  /**
   * Builds a graph from parallel edge lists: edge `k` runs from `parents[k]` to `children[k]`.
   * O(V+E) (two counting-sort passes, no comparison sort). Duplicate edges are kept once.
   * @throws RangeError if the lists differ in length or `nodeCount` is not a non-negative integer.
   * @throws DagUnknownNodeError for an id outside `0..nodeCount-1`.
   * @throws DagCycleError for a self-edge.
   */
  static fromEdges(nodeCount: number, parents: ArrayLike<number>, children: ArrayLike<number>): Graph {
    if (!Number.isInteger(nodeCount) || nodeCount < 0 || nodeCount > 0x7fffffff) {
      throw new RangeError(`nodeCount: must be an integer in 0..2147483647, got ${nodeCount}`);
    }
    const m = parents.length;
    if (children.length !== m) {
      throw new RangeError(`parents has ${m} entries but children has ${children.length}: they must pair up`);
    }
    const n = nodeCount;

    // Pass 1: bucket edges by child (counting sort). `byChild` lists each child's parents, unsorted.
    const inOffsets = new Int32Array(n + 1);
    for (let k = 0; k < m; k++) {
      const p = parents[k]!;
      const c = children[k]!;
      checkNodeInternal(p, n);
      checkNodeInternal(c, n);
      if (p === c) throw new DagCycleError([p, p]);
      inOffsets[c + 1]!++;
    }
    const outOffsets = new Int32Array(n + 1);
    for (let k = 0; k < m; k++) outOffsets[parents[k]! + 1]!++;
    for (let i = 0; i < n; i++) {
      inOffsets[i + 1]! += inOffsets[i]!;
      outOffsets[i + 1]! += outOffsets[i]!;
    }
    const byChild = new Int32Array(m);
    const cursor = inOffsets.slice(0, n);
    for (let k = 0; k < m; k++) byChild[cursor[children[k]!]!++] = parents[k]!;

    // Pass 2: walk children in ascending order and append each to its parents' lists, so every
    // child list comes out sorted and duplicates sit next to each other.
    const childTargets = new Int32Array(m);
    cursor.set(outOffsets.subarray(0, n));
    for (let c = 0; c < n; c++) {
      for (let k = inOffsets[c]!, end = inOffsets[c + 1]!; k < end; k++) childTargets[cursor[byChild[k]!]!++] = c;
    }

    // Compact in place, dropping adjacent duplicates. Writes never overtake reads (w <= k).
    let w = 0;
    for (let p = 0; p < n; p++) {
      const start = outOffsets[p]!;
      const end = outOffsets[p + 1]!;
      outOffsets[p] = w;
      for (let k = start; k < end; k++) {
        const c = childTargets[k]!;
        if (k === start || c !== childTargets[k - 1]!) childTargets[w++] = c;
      }
    }
    outOffsets[n] = w;
    const children2 = w === m ? childTargets : childTargets.slice(0, w);

    // Parents from the de-duplicated children, walking parents in ascending order: sorted lists.
    // Reuses pass 1's buffers, which are no longer needed.
    inOffsets.fill(0);
    for (let k = 0; k < w; k++) inOffsets[children2[k]! + 1]!++;
    for (let i = 0; i < n; i++) inOffsets[i + 1]! += inOffsets[i]!;
    cursor.set(inOffsets.subarray(0, n));
    for (let p = 0; p < n; p++) {
      for (let k = outOffsets[p]!, end = outOffsets[p + 1]!; k < end; k++) byChild[cursor[children2[k]!]!++] = p;
    }
    const parents2 = w === m ? byChild : byChild.slice(0, w);
    return new Graph(n, outOffsets, children2, inOffsets, parents2);
  }
}

/**
 * Throws `DagUnknownNodeError` unless `node` is an integer in `0..nodeCount-1`.
 * @internal shared by this package's modules; not exported from the package.
 */
export function checkNodeInternal(node: number, nodeCount: number): void {
  if (!((node | 0) === node && node >= 0 && node < nodeCount)) {
    throw new DagUnknownNodeError(
      node,
      nodeCount === 0
        ? `node ${node} does not exist: the graph has no nodes`
        : `node ${node} does not exist: node ids are integers 0..${nodeCount - 1}`,
    );
  }
}
