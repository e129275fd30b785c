/**
 * The conductor: the only writer of a study's state, from ready instances to queued jobs to
 * results applied; its records, its instance graph and the jobs it builds.
 */
export { Conductor } from './conductor.js';
export type { ConductorLimits, Progress } from './conductor.js';
export { InstanceRecords } from './instance-records.js';
export { jobSettingsOf, settingsVaryByInstance } from './step-jobs.js';
