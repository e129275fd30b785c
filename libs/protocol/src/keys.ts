/**
 * Redis keys of maestro's own state. BullMQ keeps its queues under `<prefix>:<queue>:...`; ours
 * live beside them under `<prefix>:study:<id>...`, `<prefix>:worker:...`. Nothing here is ever
 * read off BullMQ's keys.
 *
 * | key | type | writer | what |
 * |---|---|---|---|
 * | `<p>:studies` | zset | conductor | study ids by creation time (ms) |
 * | `<p>:study:<id>` | hash | conductor | the study record: {@link StudyRecordField} |
 * | `<p>:study:<id>:state` | string | conductor | packed per-instance records (state-record.ts) |
 * | `<p>:study:<id>:events` | stream | workers (fenced Lua) | {@link StepEvent}s, read by the conductor |
 * | `<p>:study:<id>:control` | stream | `maestro cancel/update` | {@link ControlRequest}s, read by the conductor |
 * | `<p>:study:<id>:fence` | hash | workers (Lua), conductor (deletes) | instance index -> `attempt:run:done` |
 * | `<p>:study:<id>:lease` | string, TTL | conductor | token of the conductor driving the study |
 * | `<p>:study:<id>:workers` | hash | workers | worker name -> JSON {host, allocationId}, for status |
 * | `<p>:worker:<name>` | hash, TTL | that worker | heartbeat: {@link WorkerRecord} |
 * | `<p>:workers` | zset | workers | worker names by last heartbeat (ms) |
 * | `<p>:control` | pub/sub channel | conductor, `maestro workers stop` | {@link WorkerSignal}s: cancel running steps, drain |
 * | `<p>:allocations` | hash | `maestro workers launch`, autoscaler | field `<scheduler>.<id>` -> {@link AllocationRecord} JSON |
 * | `<p>:drain` | hash, TTL | `maestro workers stop` | `allocation.<id>` / `worker.<name>` -> epoch ms: drain requests |
 */
export const DEFAULT_PREFIX = 'maestro';

export const studiesKey = (prefix: string): string => `${prefix}:studies`;
export const studyKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}`;
export const stateKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:state`;
export const eventsKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:events`;
export const controlKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:control`;
export const fenceKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:fence`;
export const leaseKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:lease`;
export const studyWorkersKey = (prefix: string, studyId: string): string => `${prefix}:study:${studyId}:workers`;
export const workerKey = (prefix: string, name: string): string => `${prefix}:worker:${name}`;
export const workersKey = (prefix: string): string => `${prefix}:workers`;
export const controlChannel = (prefix: string): string => `${prefix}:control`;
export const allocationsKey = (prefix: string): string => `${prefix}:allocations`;
export const drainKey = (prefix: string): string => `${prefix}:drain`;

/** Fields of the study hash (`<p>:study:<id>`). All values are text. */
export const StudyRecordField = {
  /** JSON of the public study description (name, root, instanceCount, steps, createdAt). */
  meta: 'meta',
  /** StudyState name. */
  state: 'state',
  /** Last events-stream id the conductor applied; its state matches everything up to it. */
  cursor: 'cursor',
  /** Last control-stream id applied. */
  controlCursor: 'controlCursor',
  /** JSON {stateName: count}. */
  counts: 'counts',
  startedAt: 'startedAt',
  endedAt: 'endedAt',
  /** Current limits, as the conductor applies them. */
  throttle: 'throttle',
  rlimit: 'rlimit',
  attempts: 'attempts',
  /** Node-hours the study may use (`--budget`); absent or '0': no budget. */
  budget: 'budget',
  /** '1' once cancel was requested: workers refuse to start its steps. */
  cancelled: 'cancelled',
  /**
   * Why the study stopped on its own, in words, e.g. a step that exited Merlin's HARD_FAIL; set
   * with `cancelled`, and the study ends FAILURE rather than CANCELLED.
   */
  stoppedBy: 'stoppedBy',
  /** Host and pid of the conductor, for messages (not a lock: see the lease key). */
  conductor: 'conductor',
  /**
   * Epoch ms of the conductor's last lease renewal (every third of the lease's time to live):
   * when a study whose lease is gone last had a conductor, for `status` and the dashboard.
   */
  heartbeatAt: 'heartbeatAt',
  /**
   * JSON `[{step, reason, instances}]`: queued steps that no live worker can run (too large, or a
   * walltime longer than any worker's time left); rewritten when that changes, `[]` when none.
   */
  blocked: 'blocked',
  /**
   * JSON `[{host, failures, failuresOnStepsOkElsewhere, runs, failuresElsewhere, runsElsewhere,
   * sinceMs}]`: hosts quarantined for failing far more than the rest of the fleet, with the
   * evidence; rewritten on each quarantine and release, `[]` when none.
   */
  quarantine: 'quarantine',
  /**
   * JSON array of the names of the workers that ran its steps: a state record's `worker` is an
   * index into it (0, the entry '', for none).
   */
  workerNames: 'workerNames',
  /** CPU (user + system, ms) the conductor spent on the study, written when it ends. */
  conductorCpuMs: 'conductorCpuMs',
  /** The conductor's peak resident memory (MB), written when the study ends. */
  conductorPeakRssMB: 'conductorPeakRssMB',
} as const;
