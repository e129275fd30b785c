import { DagCycleError } from './errors.js';
import { checkNodeInternal, Graph } from './graph.js';

const INITIAL_EDGE_CAPACITY = 16;

/**
 * Collects nodes and edges, then {@link GraphBuilder.build}s an immutable {@link Graph}.
 * Node ids are `0..n-1`: the first `nodeCount` given to the constructor, then one per `addNode()`.
 * Edges are stored in two growing `Int32Array`s (8 bytes per edge), not in per-node arrays.
 */
export class GraphBuilder {
  #nodeCount: number;
  #edgeCount = 0;
  #from: Int32Array;
  #to: Int32Array;

  /** @param nodeCount nodes that exist from the start, ids `0..nodeCount-1`. @default 0 */
  constructor(nodeCount = 0) {
    if (!Number.isInteger(nodeCount) || nodeCount < 0 || nodeCount > 0x7fffffff) {
      throw new RangeError(`nodeCount: must be an integer in 0..2147483647, got ${nodeCount}`);
    }
    this.#nodeCount = nodeCount;
    this.#from = new Int32Array(INITIAL_EDGE_CAPACITY);
    this.#to = new Int32Array(INITIAL_EDGE_CAPACITY);
  }

  /** Nodes so far. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /** Edges added so far, duplicates included. */
  get addedEdgeCount(): number {
    return this.#edgeCount;
  }

  /** Adds a node and returns its id (the previous node count). */
  addNode(): number {
    if (this.#nodeCount === 0x7fffffff) throw new RangeError('too many nodes: ids must fit in an Int32Array');
    return this.#nodeCount++;
  }

  /**
   * Adds the edge `parent -> child` (`child` waits for `parent`). Adding it twice is harmless:
   * `build()` keeps it once.
   * @throws DagUnknownNodeError if either id is not a node yet.
   * @throws DagCycleError if `parent === child`.
   */
  addEdge(parent: number, child: number): void {
    checkNodeInternal(parent, this.#nodeCount);
    checkNodeInternal(child, this.#nodeCount);
    if (parent === child) throw new DagCycleError([parent, parent]);
    if (this.#edgeCount === this.#from.length) this.#grow();
    this.#from[this.#edgeCount] = parent;
    this.#to[this.#edgeCount] = child;
    this.#edgeCount++;
  }

  /** Builds the graph in O(V+E). The builder stays usable; later additions do not affect this graph. */
  build(): Graph {
    const m = this.#edgeCount;
    return Graph.fromEdges(this.#nodeCount, this.#from.subarray(0, m), this.#to.subarray(0, m));
  }

  #grow(): void {
    if (this.#from.length >= 0x7fffffff) throw new RangeError('too many edges: offsets must fit in an Int32Array');
    const capacity = Math.min(this.#from.length * 2, 0x7fffffff);
    const from = new Int32Array(capacity);
    const to = new Int32Array(capacity);
    from.set(this.#from);
    to.set(this.#to);
    this.#from = from;
    this.#to = to;
  }
}
