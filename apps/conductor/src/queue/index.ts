/**
 * BullMQ, for the conductor (step jobs in, job states out) and for the dashboard (bull-board's
 * queues). The only folder that imports bullmq.
 */
export { BoardQueues } from './board-queues.js';
export type { JobPresence } from './board-queues.js';
export { StepQueues } from './step-queues.js';
export type { QueuedJob, StepJobPresence } from './step-queues.js';
