/**
 * Child processes of the conductor: parameter generators, scheduler commands, git (the only
 * module that imports execa), and where the worker's executable is.
 */
export { runProcess, startDetached } from './run-process.js';
export type { ProcessOutcome } from './run-process.js';
export { workerBin } from './worker-bin.js';
