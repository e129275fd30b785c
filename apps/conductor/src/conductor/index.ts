/**
 * The conductor, the only writer of a study's state: its pure instance state machine, dispatch,
 * result intake, reconciliation, cancel, persistence and lease, and the loop that wires them.
 */
export { Conductor } from './conductor.js';
export type { ConductorLimits, Progress } from './conductor.js';
export { InstanceRecords } from './instance-records.js';
export { jobSettingsOf, queueNamesOf, settingsVaryByInstance } from './step-jobs.js';
export { retrySettingsOf } from './return-codes.js';
export { DEFAULT_QUARANTINE } from './quarantine.js';
export type { QuarantineEvidence, QuarantineSettings } from './quarantine.js';
