export { PROTOCOL_VERSION } from './version.js';
export {
  CONNECTIONS_PER_WORKER,
  CONDUCTOR_CONNECTIONS,
  MAX_CLIENTS_REPLY,
  REDIS_RESERVED_FDS,
  clientsNeeded,
  maxClientsAdvice,
} from './client-limits.js';
export {
  DEFAULT_PREFIX,
  studiesKey,
  studyKey,
  stateKey,
  eventsKey,
  controlKey,
  fenceKey,
  leaseKey,
  studyWorkersKey,
  workerKey,
  workersKey,
  controlChannel,
  allocationsKey,
  drainKey,
  StudyRecordField,
} from './keys.js';
export { StepState, StudyState, stepStateName, isFinalState } from './step-state.js';
export type { StepStateName, StepStateCode, StudyStateName } from './step-state.js';
export {
  STATE_RECORD_BYTES,
  STATE_FLAG_RESTART,
  STATE_FLAG_RELEASED,
  STATE_FLAG_DELAYED,
  STATE_OFFSETS,
  readStateRecord,
  writeStateRecord,
  stateCodeAt,
} from './state-record.js';
export type { StateRecord } from './state-record.js';
export { DEFAULT_QUEUE, isValidQueueName, stepJobId, parseStepJobId } from './queues.js';
export {
  StepJob,
  StepResources,
  BundleMember,
  MAX_STEP_JOB_NUMBER,
  MAX_BUNDLE_MEMBERS,
  bundleMembers,
} from './step-job.js';
export type { StepJobInput } from './step-job.js';
export { Outcome, StepStarted, StepResult, StepEvent, parseStepEvent, EVENT_FIELD } from './step-event.js';
export {
  ControlRequest,
  CONTROL_FIELD,
  WorkerSignal,
  WorkerRecord,
  WORKER_HEARTBEAT_MS,
  WORKER_RECORD_TTL_MS,
  DRAIN_TTL_MS,
} from './control.js';
export { QuarantineEvidence, parseQuarantines } from './quarantine.js';
export { AllocationRecord, allocationField, canonicalAllocationId, drainField, SCHEDULERS } from './allocation.js';
export type { SchedulerName } from './allocation.js';
export { stepDemand, fitStep, fitsTimeLeft } from './resources.js';
export type { StepDemand, WorkerCapacity, Fit } from './resources.js';
export { parseWalltimeSeconds, formatWalltime, WalltimeError } from './walltime.js';
export {
  CLAIM_RUN_LUA,
  REPORT_RESULT_LUA,
  REPORT_AND_CLAIM_LUA,
  ANNOUNCE_START_LUA,
  DEFAULT_MAX_RUNS_PER_ATTEMPT,
} from './fence-scripts.js';
export { expandLauncher, LauncherError } from './launcher.js';
export type { LauncherScheduler, LauncherContext } from './launcher.js';
export {
  STATUS_CSV_HEADER,
  formatStatusRow,
  formatParams,
  duration as formatStatusDuration,
  timestamp as formatStatusTimestamp,
  parseStatusCsv,
  parseCsvRecords,
} from './status-csv.js';
export type { StatusRow, StatusCsvRow } from './status-csv.js';
export { parseDurationMs, DURATION_EXAMPLES } from './duration.js';
export {
  parseRedisUrl,
  isRedisUrl,
  keyPrefixFor,
  hasHashTag,
  RedisUrlError,
  REDIS_URL_FORMS,
  DEFAULT_REDIS_PORT,
  DEFAULT_SENTINEL_PORT,
} from './redis-url.js';
export type { RedisAddress, RedisAddressKind, RedisEndpoint } from './redis-url.js';
