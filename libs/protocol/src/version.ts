/**
 * Version of the conductor <-> worker contract. A worker refuses jobs of another version (a
 * batch script may start a worker from an older install on the shared file system).
 */
// 2: bundles (StepJob.more), 44-byte state records; 3: chains (StepJob.chain), which a worker of
// version 2 would run as a bundle, past a member that failed.
export const PROTOCOL_VERSION = 3;
