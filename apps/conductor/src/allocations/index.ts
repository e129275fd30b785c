/**
 * Allocations of workers on a scheduler: batch scripts rendered from templates, submitted,
 * cancelled and asked about through each scheduler's command line (Slurm, Flux, local).
 */
export { AllocationError, AllocationErrorCode } from './errors.js';
export { checkStudyFits, prepareLaunch, studyDemandGroups, submitLaunch } from './launch.js';
export type { LaunchSettings, LaunchTarget } from './launch.js';
export { schedulerClient } from './schedulers.js';
export type { AllocationState, SchedulerClient } from './schedulers.js';
