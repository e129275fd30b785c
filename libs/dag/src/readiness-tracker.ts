import { DagInvalidTransitionError } from './errors.js';
import { checkNodeInternal, type Graph, type GraphCsrInternal } from './graph.js';

/**
 * Where a node stands:
 * - `waiting`: some parent has not completed (and no ancestor failed);
 * - `ready`: every parent completed; the caller may run it (the tracker does not distinguish running);
 * - `done`: completed (pass-through nodes go straight from `waiting` to `done`);
 * - `failed`: the caller reported it failed;
 * - `blocked`: an ancestor failed, so it will never run.
 */
export type NodeState = 'waiting' | 'ready' | 'done' | 'failed' | 'blocked';

/** Options of {@link ReadinessTracker}. */
export interface ReadinessTrackerOptions {
  /**
   * `passThrough[i] !== 0` marks node `i` as a virtual barrier: it completes by itself as soon as its
   * parents have, and is never handed out as ready or blocked. Length must equal `graph.nodeCount`.
   * The tracker keeps a reference; do not change it afterwards.
   * @default no pass-through nodes
   */
  readonly passThrough?: Uint8Array | undefined;
}

const WAITING = 0;
const READY = 1;
const DONE = 2;
const FAILED = 3;
const BLOCKED = 4;
const STATE_NAMES: readonly NodeState[] = ['waiting', 'ready', 'done', 'failed', 'blocked'];

/**
 * Tracks which nodes of a DAG may run: a node is ready once every parent completed. Every call does
 * work proportional to the nodes and edges it touches, so a whole run costs O(V+E). Memory: a
 * `Uint8Array` of states and two `Int32Array`s (parents still outstanding; a work queue).
 *
 * On a graph with a cycle, the nodes on and below the cycle simply never become ready: check with
 * `findCycle` or `topologicalOrder` first.
 */
export class ReadinessTracker {
  readonly #csr: GraphCsrInternal;
  readonly #nodeCount: number;
  readonly #passThrough: Uint8Array | undefined;
  readonly #state: Uint8Array;
  /** Parents of each node that are not done yet. */
  readonly #waitingOn: Int32Array;
  /**
   * Scratch FIFO for cascades, grown as one needs it: a node enters it at most once per cascade,
   * so n slots would always do, but most cascades are a few nodes and n slots are 4n bytes.
   */
  #queue: Int32Array = new Int32Array(64);
  #started = false;
  #unfinished: number;

  constructor(graph: Graph, options: ReadinessTrackerOptions = {}) {
    const n = graph.nodeCount;
    const passThrough = options.passThrough;
    if (passThrough && passThrough.length !== n) {
      throw new RangeError(`passThrough: has ${passThrough.length} entries but the graph has ${n} nodes`);
    }
    this.#csr = graph.csrInternal();
    this.#nodeCount = n;
    this.#passThrough = passThrough;
    this.#state = new Uint8Array(n);
    const waitingOn = new Int32Array(n);
    const { parentOffsets } = this.#csr;
    for (let i = 0; i < n; i++) waitingOn[i] = parentOffsets[i + 1]! - parentOffsets[i]!;
    this.#waitingOn = waitingOn;
    let real = n;
    if (passThrough) for (let i = 0; i < n; i++) if (passThrough[i] !== 0) real--;
    this.#unfinished = real;
  }

  /** Non-pass-through nodes still `waiting` or `ready`; the run is over when this reaches 0. */
  get unfinishedCount(): number {
    return this.#unfinished;
  }

  /**
   * Nodes ready at the start (no parents, or only pass-through parents that are themselves ready),
   * ascending by root id, each followed by what its pass-through cascade released. Call once.
   * @throws DagInvalidTransitionError if called twice, or on a restored tracker.
   */
  start(): number[] {
    if (this.#started) {
      throw new DagInvalidTransitionError('start', -1, 'start() was already called (or the tracker was restored)');
    }
    this.#started = true;
    const out: number[] = [];
    const state = this.#state;
    const waitingOn = this.#waitingOn;
    const passThrough = this.#passThrough;
    for (let i = 0; i < this.#nodeCount; i++) {
      // A root reached by an earlier cascade is no longer waiting.
      if (state[i] !== WAITING || waitingOn[i] !== 0) continue;
      if (passThrough && passThrough[i] !== 0) {
        state[i] = DONE;
        this.#release(i, out);
      } else {
        state[i] = READY;
        out.push(i);
      }
    }
    return out;
  }

  /**
   * `node` finished successfully. Returns the nodes that just became ready (children whose last
   * outstanding parent this was, and their children through completed pass-through nodes). Over the
   * tracker's life each node is returned at most once, by `start`, `complete` or `restore`.
   * @throws DagInvalidTransitionError unless `node` is `ready` (completing twice, a waiting, failed,
   *   blocked or pass-through node, or before `start`).
   */
  complete(node: number): number[] {
    this.#expectReady('complete', node);
    this.#state[node] = DONE;
    this.#unfinished--;
    const out: number[] = [];
    this.#release(node, out);
    return out;
  }

  /**
   * `node` failed. Every descendant not yet finished or failed is blocked for good, also through
   * pass-through nodes. Returns the newly blocked nodes, pass-through ones left out, each once over
   * the tracker's life, so the caller can mark them failed. Siblings and other branches are not touched.
   * @throws DagInvalidTransitionError unless `node` is `ready`.
   */
  fail(node: number): number[] {
    this.#expectReady('fail', node);
    const state = this.#state;
    state[node] = FAILED;
    this.#unfinished--;
    const out: number[] = [];
    this.#block(node, out);
    return out;
  }

  /** Parents of `node` that are not done yet (pass-through parents count until they complete). */
  remainingParents(node: number): number {
    checkNodeInternal(node, this.#nodeCount);
    return this.#waitingOn[node]!;
  }

  /** Where `node` stands; see {@link NodeState}. Every node is `waiting` before `start()`. */
  state(node: number): NodeState {
    checkNodeInternal(node, this.#nodeCount);
    return STATE_NAMES[this.#state[node]!]!;
  }

  /**
   * Rebuilds a tracker after a restart from what is already known, in O(V+E), without replaying.
   * `done(i)` / `failed(i)` say which nodes completed or failed earlier; they are not asked about
   * pass-through nodes, whose state follows from their parents. A failed node blocks its descendants,
   * as `fail()` does; reporting blocked nodes as failed (as a caller that marks them FAILED will) is
   * fine. Returns the tracker (already started) and the nodes ready now, ascending: not done, failed
   * or blocked, every parent done. Afterwards the tracker is in the state a live run reaching the same
   * done/failed sets would be in.
   * @throws DagInvalidTransitionError if a node is reported both done and failed, or done while one
   *   of its parents is not done (no run can produce that).
   */
  static restore(
    graph: Graph,
    done: (node: number) => boolean,
    failed: (node: number) => boolean,
    options: ReadinessTrackerOptions & {
      /**
       * Given: the ready nodes go to it, ascending, and `ready` comes back empty. A graph of ten
       * million roots would otherwise make an array of ten million numbers.
       */
      readonly onReady?: ((node: number) => void) | undefined;
    } = {},
  ): { tracker: ReadinessTracker; ready: number[] } {
    const tracker = new ReadinessTracker(graph, options);
    tracker.#started = true;
    const n = tracker.#nodeCount;
    const state = tracker.#state;
    const waitingOn = tracker.#waitingOn;
    const passThrough = tracker.#passThrough;
    const { childOffsets, childTargets, parentOffsets, parentTargets } = tracker.#csr;
    const isPassThrough = (i: number): boolean => passThrough !== undefined && passThrough[i] !== 0;

    for (let i = 0; i < n; i++) {
      if (isPassThrough(i)) continue;
      const isDone = done(i);
      const isFailed = failed(i);
      if (isDone && isFailed) {
        throw new DagInvalidTransitionError('restore', i, `node ${i} is reported both done and failed`);
      }
      if (isDone) state[i] = DONE;
      else if (isFailed) state[i] = FAILED;
      if (isDone || isFailed) tracker.#unfinished--;
    }
    for (let i = 0; i < n; i++) {
      if (state[i] !== DONE) continue;
      for (let k = childOffsets[i]!, end = childOffsets[i + 1]!; k < end; k++) waitingOn[childTargets[k]!]!--;
    }
    // Pass-through nodes whose parents are all done complete now, and release their children.
    for (let i = 0; i < n; i++) {
      if (isPassThrough(i) && state[i] === WAITING && waitingOn[i] === 0) {
        state[i] = DONE;
        tracker.#release(i, undefined);
      }
    }
    for (let i = 0; i < n; i++) {
      if (state[i] !== DONE || waitingOn[i] === 0) continue;
      let parent = -1;
      for (let k = parentOffsets[i]!; parent === -1; k++)
        if (state[parentTargets[k]!] !== DONE) parent = parentTargets[k]!;
      throw new DagInvalidTransitionError('restore', i, `node ${i} is reported done but its parent ${parent} is not`);
    }
    // No done node lies below a non-done one now, so blocking only meets waiting and failed nodes.
    for (let i = 0; i < n; i++) if (state[i] === FAILED) tracker.#block(i, undefined);

    const ready: number[] = [];
    const onReady = options.onReady ?? ((i: number) => ready.push(i));
    for (let i = 0; i < n; i++) {
      if (state[i] === WAITING && waitingOn[i] === 0 && !isPassThrough(i)) {
        state[i] = READY;
        onReady(i);
      }
    }
    return { tracker, ready };
  }

  #expectReady(action: 'complete' | 'fail', node: number): void {
    checkNodeInternal(node, this.#nodeCount);
    if (!this.#started) {
      throw new DagInvalidTransitionError(action, node, `cannot ${action} node ${node}: start() was not called yet`);
    }
    const s = this.#state[node]!;
    if (s === READY) return;
    const why =
      this.#passThrough && this.#passThrough[node] !== 0
        ? 'it is a pass-through node, which completes by itself'
        : `it is ${STATE_NAMES[s]}; only ready nodes can ${action}`;
    throw new DagInvalidTransitionError(action, node, `cannot ${action} node ${node}: ${why}`);
  }

  /**
   * `node` just became done: count it off each child; children with no parent left become ready,
   * or done and released in turn if pass-through. Ready ones go to `out`, in breadth-first order.
   */
  #release(node: number, out: number[] | undefined): void {
    const { childOffsets, childTargets } = this.#csr;
    const state = this.#state;
    const waitingOn = this.#waitingOn;
    const passThrough = this.#passThrough;
    let queue: Int32Array = this.#queue;
    let head = 0;
    let tail = 0;
    queue[tail++] = node;
    while (head < tail) {
      const p = queue[head++]!;
      for (let k = childOffsets[p]!, end = childOffsets[p + 1]!; k < end; k++) {
        const c = childTargets[k]!;
        // Blocked children are counted off too, so remainingParents() stays exact.
        if (--waitingOn[c]! !== 0 || state[c] !== WAITING) continue;
        if (passThrough && passThrough[c] !== 0) {
          state[c] = DONE;
          if (tail === queue.length) queue = this.#growQueue();
          queue[tail++] = c;
        } else if (out) {
          state[c] = READY;
          out.push(c);
        }
        // Without `out` (restore), real nodes stay waiting; restore marks them ready afterwards.
      }
    }
  }

  /** Blocks every waiting descendant of `node`; real ones go to `out`. */
  #block(node: number, out: number[] | undefined): void {
    const { childOffsets, childTargets } = this.#csr;
    const state = this.#state;
    const passThrough = this.#passThrough;
    let queue: Int32Array = this.#queue;
    let head = 0;
    let tail = 0;
    queue[tail++] = node;
    while (head < tail) {
      const p = queue[head++]!;
      for (let k = childOffsets[p]!, end = childOffsets[p + 1]!; k < end; k++) {
        const c = childTargets[k]!;
        // Failed and blocked nodes already block everything below them; done ones cannot sit below
        // a node that is not done.
        if (state[c] !== WAITING) continue;
        state[c] = BLOCKED;
        if (tail === queue.length) queue = this.#growQueue();
        queue[tail++] = c;
        if (!passThrough || passThrough[c] === 0) {
          this.#unfinished--;
          out?.push(c);
        }
      }
    }
  }

  /** Doubles the scratch FIFO, keeping what it holds (entries are never taken off its start). */
  #growQueue(): Int32Array {
    const bigger = new Int32Array(Math.min(this.#nodeCount, this.#queue.length * 2));
    bigger.set(this.#queue);
    this.#queue = bigger;
    return bigger;
  }
}
