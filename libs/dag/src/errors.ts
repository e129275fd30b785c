/** Error codes: callers branch on these, never on message text. */
export const DagErrorCode = {
  Cycle: 'DAG_CYCLE',
  UnknownNode: 'DAG_UNKNOWN_NODE',
  DuplicateNode: 'DAG_DUPLICATE_NODE',
  InvalidTransition: 'DAG_INVALID_TRANSITION',
} as const;
export type DagErrorCode = (typeof DagErrorCode)[keyof typeof DagErrorCode];

/** Base class of every error this package throws on purpose (argument-shape mistakes throw `RangeError`). */
export class DagError extends Error {
  override readonly name: string = 'DagError';
  readonly code: DagErrorCode;
  constructor(code: DagErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The graph has a dependency cycle (a self-edge is a cycle of one node). */
export class DagCycleError extends DagError {
  override readonly name: string = 'DagCycleError';
  declare readonly code: 'DAG_CYCLE';
  /** Node ids along the cycle, the first repeated at the end: `[a, b, c, a]` means a -> b -> c -> a. */
  readonly cycle: readonly number[];
  /** The same cycle by caller-given names (e.g. step ids), when the thrower knew them. */
  readonly cycleIds: readonly string[] | undefined;
  /**
   * @param cycle node ids, first repeated at the end.
   * @param ids names the message should use instead of numbers: `ids[node]`.
   */
  constructor(cycle: readonly number[], ids?: readonly string[], options?: ErrorOptions) {
    const names = ids ? cycle.map((n) => ids[n] ?? String(n)) : undefined;
    super(DagErrorCode.Cycle, `dependency cycle: ${(names ?? cycle).join(' -> ')}`, options);
    this.cycle = Object.freeze([...cycle]);
    this.cycleIds = names ? Object.freeze(names) : undefined;
  }
}

/** A node id (a number out of range, or a string no item declares) that the graph does not have. */
export class DagUnknownNodeError extends DagError {
  override readonly name: string = 'DagUnknownNodeError';
  declare readonly code: 'DAG_UNKNOWN_NODE';
  /** The id as given. */
  readonly node: number | string;
  constructor(node: number | string, message: string, options?: ErrorOptions) {
    super(DagErrorCode.UnknownNode, message, options);
    this.node = node;
  }
}

/** Two items declare the same string id (see `graphFromIds`). */
export class DagDuplicateNodeError extends DagError {
  override readonly name: string = 'DagDuplicateNodeError';
  declare readonly code: 'DAG_DUPLICATE_NODE';
  readonly node: string;
  constructor(node: string, message: string, options?: ErrorOptions) {
    super(DagErrorCode.DuplicateNode, message, options);
    this.node = node;
  }
}

/** What a caller asked the readiness tracker to do. */
export type TrackerAction = 'start' | 'complete' | 'fail' | 'restore';

/** The readiness tracker was asked for a change its state does not allow (e.g. completing a node twice). */
export class DagInvalidTransitionError extends DagError {
  override readonly name: string = 'DagInvalidTransitionError';
  declare readonly code: 'DAG_INVALID_TRANSITION';
  readonly action: TrackerAction;
  /** The node concerned, or -1 when the action is about the whole tracker (`start` twice). */
  readonly node: number;
  constructor(action: TrackerAction, node: number, message: string, options?: ErrorOptions) {
    super(DagErrorCode.InvalidTransition, message, options);
    this.action = action;
    this.node = node;
  }
}
