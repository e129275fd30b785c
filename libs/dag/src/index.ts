export {
  DagCycleError,
  DagDuplicateNodeError,
  DagError,
  DagErrorCode,
  DagInvalidTransitionError,
  DagUnknownNodeError,
} from './errors.js';
export type { TrackerAction } from './errors.js';
export { Graph } from './graph.js';
export { GraphBuilder } from './graph-builder.js';
export { findCycle } from './find-cycle.js';
export { topologicalOrder } from './topological-order.js';
export { ReadinessTracker } from './readiness-tracker.js';
export type { NodeState, ReadinessTrackerOptions } from './readiness-tracker.js';
export { graphFromIds } from './graph-from-ids.js';
export type { IdGraph, IdItem } from './graph-from-ids.js';
