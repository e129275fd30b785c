/**
 * Carrying out a cancel, in the order that keeps every finished step FINISHED:
 *
 * 1. drain the events: what was reported before the cancel counts as it would have without one (a
 *    failure is retried, then cancelled, rather than failed for good with its subtree); a reported
 *    success would be kept anyway, by step 4;
 * 2. stop sending and retrying, and commit the cancelled flag: from then on the fence refuses
 *    every claim, so a step not claimed yet can never start;
 * 3. tell the workers, which kill the study's running steps;
 * 4. CANCEL what no worker claimed (the fence says which); claimed steps end by their result, which
 *    may be a success, or at the cancel's deadline (expireCancel);
 * 5. remove the jobs of the instances cancelled while queued, and wait for that: a study's jobs
 *    must not be left behind in a shared Redis.
 */
import type { Logger } from 'pino';
import type { StepQueues } from '../queue/index.js';
import type { StudyStore } from '../redis/index.js';
import { uniqueJobs, type JobRef } from './dispatch.js';
import type { InstanceMachine } from './instance-machine.js';
import type { ResultIntake } from './intake.js';
import type { StudyPersistence } from './persistence.js';

export interface CancelParts {
  readonly studyId: string;
  readonly machine: InstanceMachine;
  readonly intake: Pick<ResultIntake, 'drain'>;
  readonly persistence: Pick<StudyPersistence, 'commit'>;
  readonly store: Pick<StudyStore, 'signalWorkers' | 'claimedAttempts'>;
  readonly queues: Pick<StepQueues, 'removeQueued'>;
  readonly jobRef: (i: number) => JobRef;
  readonly log: Logger;
}

export async function carryOutCancel(p: CancelParts & { readonly deadlineMs: number }): Promise<void> {
  const m = p.machine;
  await p.intake.drain();
  m.cancel(p.deadlineMs);
  await p.persistence.commit();
  await p.store.signalWorkers({ type: 'cancel', studyId: p.studyId });
  const claimed = await p.store.claimedAttempts();
  const queued = m.settleCancel((i) => claimed.get(i) ?? 0);
  await removeJobs(p, queued);
}

/**
 * At the cancel's deadline, what has not ended is CANCELLED, reported or not; but first its fence
 * entries are deleted (a commit) and the events drained, so that a result accepted before then
 * counts and none is accepted after.
 */
export async function expireCancel(p: CancelParts, now: number): Promise<void> {
  const late = p.machine.cancelExpired(now);
  if (late.length === 0) return;
  await p.persistence.commit();
  await p.intake.drain();
  await removeJobs(p, p.machine.abandon(late));
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
