/**
 * Version of the conductor <-> worker contract. A worker refuses jobs of another version (a
 * batch script may start a worker from an older install on the shared file system).
 */
export const PROTOCOL_VERSION = 2; // 2: bundles (StepJob.more), 44-byte state records
