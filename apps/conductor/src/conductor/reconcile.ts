/**
 * Reconciliation: in-flight instances whose job no longer exists and never reported (Redis lost
 * data), whose job BullMQ failed as stalled (its workers lost their locks more often than the
 * worker's maxStalledCount allows: an overloaded node, not a failed run), or whose job failed in
 * the queue without a result for any other reason (a worker rejected it and could not say so
 * through the fence). It returns what it found; the state machine applies it. A job found missing
 * counts as lost only once it is still missing a while later (MissingJobs); a stalled-out job
 * waits for nothing: its lock had lapsed before BullMQ failed it, so no worker holds it, and a
 * worker still running one of its steps kills it once it sees its lock renewal fail, as after any
 * stall.
 */
import { StepState } from '@maestro/protocol';
import type { StepJobPresence, StepQueues } from '../queue/index.js';
import { uniqueJobs, type JobRef } from './dispatch.js';
import type { InstanceRecords } from './instance-records.js';
import type { InstanceMachine } from './instance-machine.js';
import type { ResultIntake } from './intake.js';

/** What reconciliation found about attempt `attempt` of in-flight instance `index`. */
export type ReconcileOutcome =
  /** Its job is gone and it never reported: it runs again as a new attempt. */
  | { readonly kind: 'lost'; readonly index: number; readonly attempt: number }
  /** Its job stalled out (BullMQ failed it after its locks expired too often): it runs again as a new, uncounted attempt. */
  | { readonly kind: 'stalled'; readonly index: number; readonly attempt: number }
  /** Its job failed in the queue without a result: a failed run, with this message. */
  | { readonly kind: 'failed-in-queue'; readonly index: number; readonly attempt: number; readonly message: string };

export const FAILED_IN_QUEUE_MESSAGE = 'its job failed in the queue without a result (rejected by a worker)';

/** What BullMQ says of a job (StepQueues.jobStates). */
export type JobPresence = StepJobPresence;

/**
 * Asks BullMQ about the job of every in-flight instance, then drains the streams, then judges.
 * Job states are read first and events after, so a job that completed in between is seen through
 * its result, not mistaken for lost.
 */
export async function reconcile(
  machine: InstanceMachine,
  queues: Pick<StepQueues, 'jobStates'>,
  intake: Pick<ResultIntake, 'drain'>,
  jobRef: (i: number) => JobRef,
): Promise<ReconcileOutcome[]> {
  const inFlight = machine.inFlight();
  if (inFlight.length === 0) return [];
  const refs = inFlight.map(jobRef);
  const attempts = inFlight.map((i) => machine.records.attempt(i));
  // One question per job: the members of a bundle share theirs.
  const jobs = uniqueJobs(refs);
  const answers = await queues.jobStates(jobs);
  const presenceOf = new Map(jobs.map((j, k) => [`${j.queue}/${j.id}`, answers[k]!]));
  const presence = refs.map((j) => presenceOf.get(`${j.queue}/${j.id}`) ?? 'present');
  await intake.drain();
  return judgeInFlight(machine.records, inFlight, attempts, presence);
}

/**
 * The outcomes for instances `inFlight` (at attempts `attempts` when their jobs were asked about,
 * with presence `presence`), given the records after the drain: an instance that reported,
 * ended or moved to another attempt meanwhile is left alone.
 */
export function judgeInFlight(
  records: InstanceRecords,
  inFlight: readonly number[],
  attempts: readonly number[],
  presence: readonly JobPresence[],
): ReconcileOutcome[] {
  const out: ReconcileOutcome[] = [];
  inFlight.forEach((i, k) => {
    const s = records.state(i);
    if ((s !== StepState.PENDING && s !== StepState.RUNNING) || records.attempt(i) !== attempts[k]) return;
    const attempt = attempts[k]!;
    if (presence[k] === 'missing') out.push({ kind: 'lost', index: i, attempt });
    else if (presence[k] === 'stalled') out.push({ kind: 'stalled', index: i, attempt });
    else if (presence[k] === 'failed')
      out.push({ kind: 'failed-in-queue', index: i, attempt, message: FAILED_IN_QUEUE_MESSAGE });
  });
  return out;
}

/**
 * Jobs found missing, and since when. A missing job is lost only when it was missing at an
 * earlier look, for the same attempt, at least `graceMs` before (LOST_GRACE_MS says why); an
 * instance that reported or moved on meanwhile is forgotten.
 */
export class MissingJobs {
  readonly #graceMs: number;
  #since = new Map<number, { readonly attempt: number; readonly at: number }>();

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /**
   * Of `outcomes` (one reconciliation's, at `now`): what to apply now (every finding but a
   * missing job at once), the instances whose jobs were seen missing for the first time, and when
   * to look again for those still waiting.
   */
  settle(
    outcomes: readonly ReconcileOutcome[],
    now: number,
  ): { apply: ReconcileOutcome[]; newlyMissing: number; recheckAt: number | undefined } {
    const apply: ReconcileOutcome[] = [];
    const since = new Map<number, { attempt: number; at: number }>();
    let newlyMissing = 0;
    let recheckAt: number | undefined;
    for (const o of outcomes) {
      if (o.kind !== 'lost') {
        apply.push(o);
        continue;
      }
      const seen = this.#since.get(o.index);
      const at = seen?.attempt === o.attempt ? seen.at : now;
      if (at === now) newlyMissing++;
      if (now - at >= this.#graceMs) {
        apply.push(o);
        continue;
      }
      since.set(o.index, { attempt: o.attempt, at });
      recheckAt = Math.min(recheckAt ?? Infinity, at + this.#graceMs);
    }
    this.#since = since;
    return { apply, newlyMissing, recheckAt };
  }
}

/**
 * Applies what reconciliation found, in order: a finding about an instance that an earlier one
 * ended meanwhile (a failure fails its subtree, a chain's later links with it) is ignored.
 */
export function applyReconciled(machine: InstanceMachine, outcomes: readonly ReconcileOutcome[], now: number): void {
  for (const o of outcomes) {
    switch (o.kind) {
      case 'lost':
      case 'stalled':
        machine.lost(o.index, o.attempt);
        break;
      case 'failed-in-queue':
        machine.failedInQueue(o.index, o.attempt, o.message, now);
        break;
      default: {
        const never: never = o;
        throw new Error(`unknown reconcile outcome ${JSON.stringify(never)}`);
      }
    }
  }
}
