/**
 * The job runner: what the worker does with each job the queue consumer hands it.
 *
 * Per job (process): parse -> room -> for each instance it carries (one, or the members of a
 * bundle or chain) claim -> run (the step runner) -> report (through the fence). A malformed job
 * is rejected: failed without retry, and reported to its study when it names one. Every path
 * ends the BullMQ job exactly once (the Disposition), and every claimed run is reported unless
 * its lock was lost (then another worker owns the attempt, and the fence would refuse it anyway).
 *
 * Room: a step takes cores and GPUs of the worker (libs/protocol resources.ts) and starts only
 * if its walltime ends before the worker must stop (allocation-end.ts). A step that can never
 * run here is put aside for the others; one that fits but finds the cores busy goes back to the
 * head of the queue for another worker, and this one fetches nothing more until it has room.
 */
import {
  bundleMembers,
  fitStep,
  formatWalltime,
  parseStepJobId,
  PROTOCOL_VERSION,
  stepDemand,
  StepJob,
  studyKey,
  type WorkerCapacity,
} from '@maestro/protocol';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AllocationEnd } from './allocation-end.js';
import type { WorkerConfig } from './config.js';
import { coerceError, WorkerError, WorkerErrorCode } from './errors.js';
import type { Presence } from './heartbeat.js';
import type { IdleTimeout } from './idle-timeout.js';
import { lazyChild } from './lazy-child.js';
import type { Lifecycle } from './lifecycle.js';
import type { DeliveredJob, Disposition, JobLock } from './queue/consumer.js';
import type { Announce, ClaimOutcome, Fence, RunRef } from './queue/fence.js';
import type { Redis } from './redis.js';
import type { Ended, Results } from './results.js';
import type { Grant, Slots } from './slots.js';
import type { StepRunner } from './step-runner.js';
import { after, type Now } from './timers.js';

/** Jobs handed back are remembered (to log each once) up to this many, then forgotten at once. */
const HANDED_BACK_MEMORY = 10_000;

export interface JobRunnerParts {
  config: Pick<
    WorkerConfig,
    'prefix' | 'announceDelayMs' | 'simulate' | 'simulateStepMs' | 'cores' | 'gpuIds' | 'nodes' | 'scheduler'
  >;
  /** For the one question a rejection asks: does the study it names exist here? */
  redis: Redis;
  fence: Fence;
  presence: Pick<Presence, 'joinStudy'>;
  results: Results;
  steps: Pick<StepRunner, 'run' | 'isLockLost' | 'forgetLock'>;
  slots: Slots;
  allocation: Pick<AllocationEnd, 'fits' | 'secondsLeft'>;
  lifecycle: Pick<Lifecycle, 'state'>;
  idle: Pick<IdleTimeout, 'touch' | 'jobTaken' | 'jobDone'>;
  log: Logger;
  now: Now;
  /** Fetch no new jobs while `on` (the queue consumer's hold). */
  hold(on: boolean): void;
  /** Told of every claimed run as it starts (StartWorkerOptions.onStepStarted). */
  onStepStarted?: ((started: StepStartTimes) => void) | undefined;
}

/** When a run's job was queued (by the conductor, BullMQ's job timestamp) and when it started here. */
export interface StepStartTimes {
  queuedAtMs: number | undefined;
  startMs: number;
}

export class JobRunner {
  readonly #p: JobRunnerParts;
  readonly #capacity: WorkerCapacity;
  /** Runs are claimed quietly and announced by #runClaimed's timer, unless there is no delay. */
  readonly #announceOnClaim: Announce;
  /** Jobs already handed back, so that each is logged once. */
  readonly #handedBack = new Set<string>();
  /** Whether the consumer was asked to hold until some room is made. */
  #holding = false;

  constructor(parts: JobRunnerParts) {
    this.#p = parts;
    const { config } = parts;
    this.#capacity = {
      cores: config.cores,
      gpus: config.gpuIds.length,
      nodes: config.nodes,
      scheduler: config.scheduler,
    };
    this.#announceOnClaim = config.announceDelayMs > 0 ? 'later' : 'now';
  }

  /** The queue consumer's `process`: a job from the queue, to its end. */
  async process(delivered: DeliveredJob): Promise<Disposition> {
    const { lifecycle, idle, steps } = this.#p;
    // Fetched just as the worker began to drain: hand it back unclaimed for another worker.
    if (lifecycle.state !== 'running') return 'give-back';
    idle.jobTaken();
    let disposition: Disposition | undefined;
    try {
      disposition = await this.#handle(delivered);
      return disposition;
    } catch (err) {
      if (!(err instanceof WorkerError && err.code === WorkerErrorCode.JobRejected)) {
        this.#p.log.error({ err, jobId: delivered.id, queue: delivered.queue }, 'step job failed in the worker');
      }
      throw err;
    } finally {
      steps.forgetLock(delivered.key);
      // A job handed back is not work: a worker that only sees jobs it cannot run goes idle.
      idle.jobDone(disposition !== 'later');
    }
  }

  async #handle(delivered: DeliveredJob): Promise<Disposition> {
    const { slots, allocation } = this.#p;
    const parsed = StepJob.safeParse(delivered.data);
    if (!parsed.success) return this.#reject(delivered, parsed.error);
    const job = parsed.data;
    const jobLog = lazyChild(this.#p.log, () => ({ ...refOf(job), jobId: delivered.id }));
    if (this.#p.steps.isLockLost(delivered.key)) return lockLostBeforeClaim(jobLog);
    // Room for it: can it ever run here, does its walltime fit, and when are its cores free?
    const fit = fitStep(stepDemand(job.resources), this.#capacity);
    if (!fit.fits) return this.#handBack(delivered.key, jobLog, `it can never run on this worker: ${fit.reason}`);
    if (!allocation.fits(job.timeoutMs)) return this.#handBack(delivered.key, jobLog, this.#walltimeReason(job));
    const grant = slots.tryTake(fit.cores, fit.gpus);
    if (!grant) {
      // Not now: back to the head of the queue for a worker with room, and this one fetches
      // nothing more until some of its cores come free (then the head is tried again).
      this.#waitForRoom();
      return 'give-back';
    }
    try {
      this.#p.idle.touch();
      return await this.#runJob(delivered, job, jobLog, grant);
    } finally {
      slots.release(grant);
      this.#roomMade();
    }
  }

  /** Fails a malformed job for good, telling its study if it names one that exists here. */
  async #reject(delivered: DeliveredJob, error: z.ZodError): Promise<never> {
    const { log, results } = this.#p;
    const problems = error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`);
    const message = `not a step job this worker can run (protocol ${PROTOCOL_VERSION}): ${problems.join('; ')}`;
    const ref = runRefOf(delivered.data) ?? runRefOf(parseStepJobId(delivered.id));
    log.error({ jobId: delivered.id, queue: delivered.queue, problems, ...ref }, 'malformed step job rejected');
    // Tell the conductor through the fence, if the job names a study that exists here. Whatever
    // goes wrong on the way, the job itself is still rejected (failed, never retried).
    try {
      if (ref && (await this.#p.redis.exists(studyKey(this.#p.config.prefix, ref.studyId))) === 1) {
        const startMs = this.#p.now();
        const claim = await this.#p.fence.claim(ref, results.startedEvent(ref, startMs), delivered.lock, 'later');
        if (claim.claimed) {
          const stepLog = log.child({ ...ref, jobId: delivered.id, run: claim.run });
          const fields = { outcome: 'rejected' as const, exitCode: null, signal: null, pid: 0, startMs, message };
          await results.report(results.ended(ref, claim.run, fields, stepLog));
        }
      }
    } catch (err) {
      log.warn({ err, jobId: delivered.id, ...ref }, 'the rejection could not be reported to the study');
    }
    throw new WorkerError(WorkerErrorCode.JobRejected, message);
  }

  /** A job this worker cannot run is put aside for the others (logged once per job). */
  #handBack(key: string, jobLog: Logger, reason: string): Disposition {
    if (!this.#handedBack.has(key)) {
      if (this.#handedBack.size > HANDED_BACK_MEMORY) this.#handedBack.clear();
      this.#handedBack.add(key);
      jobLog.info({ reason }, 'step handed back: it cannot run on this worker');
    }
    return 'later';
  }

  #walltimeReason(job: StepJob): string {
    const walltime = formatWalltime(Math.ceil((job.timeoutMs ?? 0) / 1000));
    return `its walltime ${walltime} does not fit the ${formatWalltime(this.#p.allocation.secondsLeft())} this worker has left`;
  }

  #waitForRoom(): void {
    if (this.#holding) return;
    this.#holding = true;
    this.#p.hold(true);
  }

  #roomMade(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#p.hold(false);
  }

  /**
   * Runs the instances a job carries (one, or the members of a bundle or chain), one after the other:
   * each is claimed, run and reported on its own, the report of one member travelling with the
   * claim of the next. Between members the bundle may stop: the worker drains (the job goes back
   * to the queue; the members already done are refused there as done), the next member's
   * walltime no longer fits (put aside for another worker), its lock is lost (another worker has
   * it), or it has run past its budget (the rest goes back to the conductor, unstarted). A chain
   * also stops at a member that did not succeed here or was refused: the rest goes back unstarted.
   */
  async #runJob(delivered: DeliveredJob, job: StepJob, jobLog: Logger, grant: Grant): Promise<Disposition> {
    const { results, now } = this.#p;
    const members = bundleMembers(job);
    const bundleStartMs = now();
    let last: Ended | undefined;
    /** The result waiting to be reported, handed to whoever reports it. */
    const takeLast = (): Ended | undefined => {
      const e = last;
      last = undefined;
      return e;
    };
    /** Ends a chain at member k: its result first, then the members after it go back unstarted. */
    const endChain = async (k: number, why: string): Promise<Disposition> => {
      const prev = takeLast();
      if (prev) await results.report(prev);
      await this.#sendBack(
        delivered,
        members.slice(k + 1),
        `not started: ${members[k]!.name} before it in its chain ${why}; sent back`,
      );
      return 'done';
    };
    try {
      for (let k = 0; k < members.length; k++) {
        const member = members[k]!;
        const ref = refOf(member);
        const memberLog = k === 0 ? jobLog : lazyChild(this.#p.log, () => ({ ...ref, jobId: delivered.id }));
        if (k > 0) {
          if (this.#p.lifecycle.state !== 'running') return 'give-back';
          if (this.#p.steps.isLockLost(delivered.key)) return lockLostBeforeClaim(memberLog);
          if (!this.#p.allocation.fits(member.timeoutMs))
            return this.#handBack(delivered.key, memberLog, this.#walltimeReason(member));
          const spentMs = now() - bundleStartMs;
          if (job.bundleBudgetMs !== undefined && spentMs >= job.bundleBudgetMs) {
            const prev = takeLast();
            if (prev) await results.report(prev);
            await this.#sendBack(
              delivered,
              members.slice(k),
              `not started: its bundle had run ${spentMs} ms, past its budget of ${job.bundleBudgetMs} ms; sent back to run apart`,
            );
            return 'done';
          }
        }
        const claim = await this.#claimAfter(takeLast(), ref, delivered.lock);
        if (!claim.claimed) {
          if (claim.reason === 'lock') return lockLostBeforeClaim(memberLog);
          memberLog.info({ reason: claim.reason }, 'step not run: claim refused');
          // In a chain, a member refused (most often: done by a worker that died after it) says
          // nothing of how it ended, so none after it may start here.
          if (job.chain && k + 1 < members.length) return endChain(k, `was not run here (${claim.reason})`);
          continue;
        }
        this.#p.idle.touch();
        last = await this.#runClaimed(delivered, member, ref, claim.run, memberLog, grant);
        // Lock lost while it ran: the rest of the job is another worker's now.
        if (!last) return 'done';
        if (job.chain && last.fields.outcome !== 'succeeded' && k + 1 < members.length)
          return endChain(k, `ended ${last.fields.outcome}`);
      }
      return 'done';
    } finally {
      const prev = takeLast();
      if (prev) await results.report(prev);
    }
  }

  /** Claims run `ref`; the previous member's result, if any, is reported in the same round trip. */
  async #claimAfter(prev: Ended | undefined, ref: RunRef, lock: JobLock | undefined): Promise<ClaimOutcome> {
    const { fence, results } = this.#p;
    const started = results.startedEvent(ref, this.#p.now());
    if (!prev) return fence.claim(ref, started, lock, this.#announceOnClaim);
    let r: Awaited<ReturnType<Fence['reportAndClaim']>>;
    try {
      r = await fence.reportAndClaim(prev.ref, results.resultOf(prev), ref, started, lock, this.#announceOnClaim);
    } catch (err) {
      results.unreported(prev, err);
      throw err;
    }
    results.reported(prev, r.accepted);
    return r.claim;
  }

  /** Runs one claimed run to its end (or pretends to, simulating); its result, not yet reported. */
  async #runClaimed(
    delivered: DeliveredJob,
    job: StepJob,
    ref: RunRef,
    run: number,
    jobLog: Logger,
    grant: Grant,
  ): Promise<Ended | undefined> {
    const { config, fence, results } = this.#p;
    // From here on the run is claimed: whatever happens, it must end in a report.
    const stepLog = lazyChild(jobLog, () => ({ run }));
    await this.#p.presence
      .joinStudy(job.studyId)
      .catch((err: unknown) => stepLog.warn({ err }, 'cannot record the study in the worker list'));
    const startMs = this.#p.now();
    this.#p.onStepStarted?.({ queuedAtMs: delivered.queuedAtMs, startMs });
    if (config.simulate && config.simulateStepMs === 0)
      return results.ended(ref, run, { outcome: 'succeeded', exitCode: 0, signal: null, pid: 0, startMs }, stepLog);
    // Claimed quietly: a step still running after announceDelayMs tells the study it started.
    const announced =
      this.#announceOnClaim === 'later'
        ? after(config.announceDelayMs, () => {
            fence.announce(ref, { ...results.startedEvent(ref, startMs), run }).catch((err: unknown) => {
              stepLog.warn({ err }, 'could not tell the study that the step started; its result will');
            });
          })
        : undefined;
    try {
      if (config.simulate) {
        // A simulated step that lasts: its lock is renewed and its start announced as a real one's.
        await new Promise((r) => setTimeout(r, config.simulateStepMs));
        const fields = { outcome: 'succeeded' as const, exitCode: 0, signal: null, pid: 0, startMs };
        return results.ended(ref, run, fields, stepLog);
      }
      return await this.#p.steps.run(delivered.key, job, ref, run, stepLog, grant);
    } catch (err) {
      // steps.run() returns its result last, so nothing was reported yet.
      stepLog.error({ err }, 'worker error while running the step');
      const message = `the worker failed while running it: ${coerceError(err).message}`;
      const fields = { outcome: 'failed' as const, exitCode: null, signal: null, pid: 0, startMs, message };
      return results.ended(ref, run, fields, stepLog);
    } finally {
      announced?.();
    }
  }

  /**
   * Members of a job handed back to the conductor unstarted (a bundle past its budget, the rest
   * of a broken chain): each is claimed and reported `interrupted` (not a failed attempt), and
   * the conductor sends it again once it may run, on its own or with others.
   */
  async #sendBack(delivered: DeliveredJob, rest: readonly StepJob[], message: string): Promise<void> {
    const { fence, results } = this.#p;
    for (const member of rest) {
      const ref = refOf(member);
      const startMs = this.#p.now();
      const claim = await fence.claim(ref, results.startedEvent(ref, startMs), delivered.lock, 'later');
      if (!claim.claimed) {
        if (claim.reason === 'lock') return; // another worker has the job, and these members
        continue;
      }
      const memberLog = this.#p.log.child({ ...ref, jobId: delivered.id, run: claim.run });
      const fields = { outcome: 'interrupted' as const, exitCode: null, signal: null, pid: 0, startMs, message };
      await results.report(results.ended(ref, claim.run, fields, memberLog));
    }
  }
}

function lockLostBeforeClaim(jobLog: Logger): Disposition {
  jobLog.warn('step not run: its lock was lost before the claim (another worker has it)');
  return 'done';
}

/** The three fields of a job that name its run. */
const refOf = (job: StepJob): RunRef => ({ studyId: job.studyId, index: job.index, attempt: job.attempt });

/** The three fields that name a run, checked as strictly as in a whole StepJob. */
const RunRefSchema = StepJob.pick({ studyId: true, index: true, attempt: true });

/** studyId/index/attempt of a job that is not a valid StepJob, if they can be read from it. */
function runRefOf(value: unknown): RunRef | undefined {
  const r = RunRefSchema.safeParse(value);
  return r.success ? r.data : undefined;
}
