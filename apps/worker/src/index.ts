export { startWorker } from './worker.js';
export type { WorkerHandle, WorkerState, StartWorkerOptions, StepStartTimes } from './worker.js';
export { loadConfig, configWarnings, WorkerConfigSchema, LOG_LEVELS } from './config.js';
export { parseDurationMs } from '@maestro/protocol';
export type { WorkerConfig, WorkerConfigInput, WorkerOptions, WorkerEnv } from './config.js';
export { makeLogger } from './logger.js';
export type { LoggerOptions } from './logger.js';
export { ConfigError, WorkerError, WorkerErrorCode } from './errors.js';
export { redactUrl } from '@maestro/secrets';
// The step launcher alone, for the benchmark that separates its cost from the queue's.
export { startLauncher } from './run-step.js';
export type { StepLauncher, SpawnStepOptions, SpawnedStep, StepExit } from './run-step.js';
