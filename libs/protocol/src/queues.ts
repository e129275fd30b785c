/**
 * BullMQ queues and job ids. BullMQ refuses ':' in queue names and job ids, and job ids made
 * only of digits (src/classes/queue-base.ts, src/classes/job.ts).
 */

/** Queue of steps without a `task_queue` (Merlin specs name their own queues). */
export const DEFAULT_QUEUE = 'steps';

const QUEUE_NAME_RE = /^[A-Za-z0-9][\w.-]*$/;

export function isValidQueueName(name: string): boolean {
  return QUEUE_NAME_RE.test(name);
}

/**
 * Job id of attempt `attempt` of instance `index`: deterministic, so re-adding a job that is
 * still queued is a no-op. A retry or restart is a new attempt, hence a new job.
 */
export function stepJobId(studyId: string, index: number, attempt: number): string {
  return `${studyId}.${index}.${attempt}`;
}

/** Inverse of {@link stepJobId}, or undefined for a foreign id. */
export function parseStepJobId(id: string): { studyId: string; index: number; attempt: number } | undefined {
  const m = /^(.+)\.(\d+)\.(\d+)$/.exec(id);
  if (!m) return undefined;
  return { studyId: m[1]!, index: Number(m[2]), attempt: Number(m[3]) };
}
