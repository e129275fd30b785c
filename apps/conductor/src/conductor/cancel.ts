/**
 * Carrying out a cancel: nothing is sent any more, queued and waiting instances are CANCELLED at
 * once and running ones when they report; the cancelled flag is committed before the workers are
 * told, so that a worker that asks sees it; then the jobs of the instances cancelled while queued
 * are removed, and waited for: a study's jobs must not be left behind in a shared Redis.
 */
import type { Logger } from 'pino';
import type { StepQueues } from '../queue/index.js';
import type { StudyStore } from '../redis/index.js';
import { uniqueJobs, type JobRef } from './dispatch.js';
import type { InstanceMachine } from './instance-machine.js';
import type { StudyPersistence } from './persistence.js';

export interface CancelParts {
  readonly studyId: string;
  readonly machine: InstanceMachine;
  readonly persistence: Pick<StudyPersistence, 'commit'>;
  readonly store: Pick<StudyStore, 'signalWorkers'>;
  readonly queues: Pick<StepQueues, 'removeQueued'>;
  readonly jobRef: (i: number) => JobRef;
  readonly log: Logger;
}

export async function carryOutCancel(p: CancelParts & { readonly deadlineMs: number }): Promise<void> {
  const queued = p.machine.cancel(p.deadlineMs);
  await p.persistence.commit();
  await p.store.signalWorkers({ type: 'cancel', studyId: p.studyId });
  await removeJobs(p, queued);
}

/** Removes the jobs of `instances` that still wait in the queue (a warning if Redis refuses). */
export async function removeJobs(
  p: Pick<CancelParts, 'queues' | 'jobRef' | 'log'>,
  instances: readonly number[],
): Promise<void> {
  if (instances.length === 0) return;
  const jobs = uniqueJobs(instances.map(p.jobRef));
  try {
    const running = await p.queues.removeQueued(jobs);
    p.log.debug({ jobs: jobs.length, running }, 'removed the queued jobs of cancelled steps');
  } catch (err) {
    p.log.warn({ err }, 'could not remove queued jobs');
  }
}
