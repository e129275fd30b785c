/**
 * A running worker: takes StepJobs from its queues, claims each run through the fence, runs the
 * step's script in its workspace and reports the result through the fence.
 *
 * Per job (processJob): parse -> room -> for each instance it carries (one, or the members of a
 * bundle, runJob): claim -> workspace -> spawn -> wait -> report. Every path through it ends the
 * BullMQ job exactly once (completed, failed without retry for a malformed job, given back
 * untouched while draining, or put aside for another worker when it can never run here), and
 * every claimed run is reported unless its lock was lost (then another worker owns the attempt
 * and the fence would refuse it anyway).
 *
 * Room: a step takes cores and GPUs of the worker (libs/protocol resources.ts) and starts only if
 * its walltime ends before the worker must stop: its allocation's end minus the preemption
 * margin. A step that fits but finds the cores busy goes back to the head of the queue for
 * another worker, and this one fetches nothing more until it has room again. At that moment the worker preempts what still runs (reported `preempted`: run again
 * elsewhere, with its restart command if it has one) and exits, so its allocation is released.
 *
 * Kills (walltime, cancel, shutdown, lost lock) always hit the step's whole process group, and a
 * result is reported only once nothing of that group is left alive.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
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
import { makeAllocationClock } from './allocation.js';
import { AllocationEnd } from './allocation-end.js';
import type { WorkerConfig } from './config.js';
import { ControlChannel } from './control.js';
import { coerceError, WorkerError, WorkerErrorCode } from './errors.js';
import { Heartbeat, makePresence } from './heartbeat.js';
import { IdleTimeout } from './idle-timeout.js';
import {
  makeStepConsumer,
  type DeliveredJob,
  type Disposition,
  type JobLock,
  type StepConsumer,
} from './queue/consumer.js';
import { lazyChild } from './lazy-child.js';
import { makeFence, type Announce, type ClaimOutcome, type Fence, type RunRef } from './queue/fence.js';
import { closeRedis, makeRedis, type Redis } from './redis.js';
import { launcherKind, startLauncher, type StepLauncher } from './run-step.js';
import { redactUrl } from './secrets.js';
import { Lifecycle, type WorkerState } from './lifecycle.js';
import { Results, type Ended } from './results.js';
import { StepRunner } from './step-runner.js';
import { Slots, type Grant } from './slots.js';
import { after, throttled, withTimeout } from './timers.js';

export type { WorkerState } from './lifecycle.js';

export interface WorkerHandle {
  readonly name: string;
  readonly state: WorkerState;
  /** Resolves once the worker has stopped: after close(), or after its idle timeout. */
  readonly stopped: Promise<void>;
  /**
   * Stops taking steps at once, lets running steps finish for `shutdownGraceMs`, then kills the
   * rest and reports them `interrupted`; closes BullMQ and Redis. With `now` (or when called
   * again) running steps are killed at once. With `drain`, running steps may finish however long
   * they take. With `preempt` (the allocation is ending), running steps are stopped now and
   * reported `preempted`, and so is a step that dies of a signal meanwhile (the scheduler's).
   * Resolves when stopped.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  now?: boolean;
  drain?: boolean;
  preempt?: boolean;
}

/** Repeated connection errors are logged at most this often. */
const CONNECTION_LOG_INTERVAL_MS = 30_000;
/** Cleanup writes on the way out wait at most this long for Redis. */
const EXIT_REDIS_TIMEOUT_MS = 5_000;

/** What an embedder may replace in a worker; main.ts passes none of it. */
export interface StartWorkerOptions {
  /**
   * Epoch ms now: every time the worker reads (cancel memory, walltime fit, idle timeout,
   * allocation end, result times) comes from here, so tests can drive it. Timers stay real.
   * @default Date.now
   */
  now?: () => number;
}

export async function startWorker(
  config: Readonly<WorkerConfig>,
  logger: Logger,
  options: StartWorkerOptions = {},
): Promise<WorkerHandle> {
  const now = options.now ?? Date.now;
  const log = withBindings(logger, {
    worker: config.name,
    host: config.host,
    ...(config.allocationId ? { allocationId: config.allocationId } : {}),
  });
  const who = { name: config.name, host: config.host, allocationId: config.allocationId };
  const lifecycle = new Lifecycle();
  const slots = new Slots(config.cores, config.gpuIds);
  const capacity: WorkerCapacity = {
    cores: config.cores,
    gpus: config.gpuIds.length,
    nodes: config.nodes,
    scheduler: config.scheduler,
  };
  /** Jobs already handed back, so that each is logged once. */
  const handedBack = new Set<string>();
  const warnConnection = throttled(CONNECTION_LOG_INTERVAL_MS, now);
  const allocation = new AllocationEnd({
    clock: makeAllocationClock(config, now),
    preemptMarginMs: config.preemptMarginMs,
    refreshMs: config.timeLeftRefreshMs,
    now,
    log,
    warn: warnConnection,
    lifecycle,
    onStop: () => {
      const endsAt = allocation.endsAt;
      log.info(
        { steps: steps.size, endsAt: endsAt && new Date(endsAt).toISOString() },
        'allocation ending: preempting running steps and stopping',
      );
      void close({ preempt: true });
    },
  });

  const commands = makeRedis(config, 'commands');
  const subscriber = makeRedis(config, 'subscriber');
  for (const [redis, role] of [
    [commands, 'commands'],
    [subscriber, 'subscriber'],
  ] as const) {
    watchConnection(redis, role, log, warnConnection);
  }
  const fence = makeFence(commands, config.prefix, config.maxRunsPerAttempt);
  const presence = makePresence(commands, config.prefix, who);
  let launcher: StepLauncher;
  try {
    launcher = startLauncher(log, config.concurrency, launcherKind(config.launcher));
  } catch (err) {
    commands.disconnect();
    subscriber.disconnect();
    throw err;
  }

  const results = new Results(fence, config, log, now);

  /** A drain asked for by `maestro workers stop`, on the control channel or at a heartbeat. */
  const drain = (): void => {
    log.info({ steps: steps.size }, 'drain requested: finishing the running steps, then stopping');
    void close({ drain: true });
  };
  const control = new ControlChannel(config, log, now, { cancelRunning: (): number => steps.killCancelled(), drain });
  const steps = new StepRunner({ config, launcher, results, lifecycle, control, log, now });

  const heartbeat = new Heartbeat({
    presence,
    config,
    slots,
    running: steps,
    results,
    allocation,
    lifecycle,
    control,
    now,
    log,
    warn: warnConnection,
    onDrainRequested: drain,
  });
  const idle = new IdleTimeout({
    timeoutMs: config.idleTimeoutMs,
    now,
    lifecycle,
    running: steps,
    onIdle: () => {
      log.info({ idleTimeoutMs: config.idleTimeoutMs }, 'idle timeout: stopping');
      void close();
    },
  });

  // ---- one job ------------------------------------------------------------------------------

  const reject = async (delivered: DeliveredJob, error: z.ZodError): Promise<never> => {
    const problems = error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`);
    const message = `not a step job this worker can run (protocol ${PROTOCOL_VERSION}): ${problems.join('; ')}`;
    const ref = runRefOf(delivered.data) ?? runRefOf(parseStepJobId(delivered.id));
    log.error({ jobId: delivered.id, queue: delivered.queue, problems, ...ref }, 'malformed step job rejected');
    // Tell the conductor through the fence, if the job names a study that exists here. Whatever
    // goes wrong on the way, the job itself is still rejected (failed, never retried).
    try {
      if (ref && (await commands.exists(studyKey(config.prefix, ref.studyId))) === 1) {
        const startMs = now();
        const claim = await fence.claim(ref, results.startedEvent(ref, startMs), delivered.lock, 'later');
        if (claim.claimed) {
          const stepLog = log.child({ ...ref, jobId: delivered.id, run: claim.run });
          await results.report(
            results.ended(
              ref,
              claim.run,
              { outcome: 'rejected', exitCode: null, signal: null, pid: 0, startMs, message },
              stepLog,
            ),
          );
        }
      }
    } catch (err) {
      log.warn({ err, jobId: delivered.id, ...ref }, 'the rejection could not be reported to the study');
    }
    throw new WorkerError(WorkerErrorCode.JobRejected, message);
  };

  const handle = async (delivered: DeliveredJob): Promise<Disposition> => {
    const parsed = StepJob.safeParse(delivered.data);
    if (!parsed.success) return reject(delivered, parsed.error);
    const job = parsed.data;
    const jobLog = lazyChild(log, () => ({ ...refOf(job), jobId: delivered.id }));
    if (steps.isLockLost(delivered.key)) return lockLostBeforeClaim(jobLog);
    // Room for it: can it ever run here, does its walltime fit, and when are its cores free?
    const fit = fitStep(stepDemand(job.resources), capacity);
    if (!fit.fits) return handBack(delivered.key, jobLog, `it can never run on this worker: ${fit.reason}`);
    if (!allocation.fits(job.timeoutMs)) return handBack(delivered.key, jobLog, walltimeReason(job));
    const grant = slots.tryTake(fit.cores, fit.gpus);
    if (!grant) {
      // Not now: back to the head of the queue for a worker with room, and this one fetches
      // nothing more until some of its cores come free (then the head is tried again).
      waitForRoom();
      return 'give-back';
    }
    try {
      idle.touch();
      return await runJob(delivered, job, jobLog, grant);
    } finally {
      slots.release(grant);
      roomMade();
    }
  };

  const lockLostBeforeClaim = (jobLog: Logger): Disposition => {
    jobLog.warn('step not run: its lock was lost before the claim (another worker has it)');
    return 'done';
  };

  /** A job this worker cannot run is put aside for the others (logged once per job). */
  const handBack = (key: string, jobLog: Logger, reason: string): Disposition => {
    if (!handedBack.has(key)) {
      if (handedBack.size > 10_000) handedBack.clear();
      handedBack.add(key);
      jobLog.info({ reason }, 'step handed back: it cannot run on this worker');
    }
    return 'later';
  };

  const walltimeReason = (job: StepJob): string =>
    `its walltime ${formatWalltime(Math.ceil((job.timeoutMs ?? 0) / 1000))} does not fit the ${formatWalltime(
      allocation.secondsLeft(),
    )} this worker has left`;

  let holding = false;
  const waitForRoom = (): void => {
    if (holding) return;
    holding = true;
    consumer?.hold(true);
  };
  const roomMade = (): void => {
    if (!holding) return;
    holding = false;
    consumer?.hold(false);
  };

  /**
   * Runs the instances a job carries (one, or the members of a bundle or chain), one after the other:
   * each is claimed, run and reported on its own, the report of one member travelling with the
   * claim of the next. Between members the bundle may stop: the worker drains (the job goes back
   * to the queue; the members already done are refused there as done), the next member's
   * walltime no longer fits (put aside for another worker), its lock is lost (another worker has
   * it), or it has run past its budget (the rest goes back to the conductor, unstarted). A chain
   * also stops at a member that did not succeed here or was refused: the rest goes back unstarted.
   */
  const runJob = async (delivered: DeliveredJob, job: StepJob, jobLog: Logger, grant: Grant): Promise<Disposition> => {
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
      await sendBack(
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
        const memberLog = k === 0 ? jobLog : lazyChild(log, () => ({ ...ref, jobId: delivered.id }));
        if (k > 0) {
          if (lifecycle.state !== 'running') return 'give-back';
          if (steps.isLockLost(delivered.key)) return lockLostBeforeClaim(memberLog);
          if (!allocation.fits(member.timeoutMs)) return handBack(delivered.key, memberLog, walltimeReason(member));
          const spentMs = now() - bundleStartMs;
          if (job.bundleBudgetMs !== undefined && spentMs >= job.bundleBudgetMs) {
            const prev = takeLast();
            if (prev) await results.report(prev);
            await sendBack(
              delivered,
              members.slice(k),
              `not started: its bundle had run ${spentMs} ms, past its budget of ${job.bundleBudgetMs} ms; sent back to run apart`,
            );
            return 'done';
          }
        }
        const claim = await claimAfter(takeLast(), ref, delivered.lock);
        if (!claim.claimed) {
          if (claim.reason === 'lock') return lockLostBeforeClaim(memberLog);
          memberLog.info({ reason: claim.reason }, 'step not run: claim refused');
          // In a chain, a member refused (most often: done by a worker that died after it) says
          // nothing of how it ended, so none after it may start here.
          if (job.chain && k + 1 < members.length) return endChain(k, `was not run here (${claim.reason})`);
          continue;
        }
        idle.touch();
        last = await runClaimed(delivered, member, ref, claim.run, memberLog, grant);
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
  };

  /** Runs are claimed quietly and announced by runClaimed's timer, unless there is no delay. */
  const announceOnClaim: Announce = config.announceDelayMs > 0 ? 'later' : 'now';

  /** Claims run `ref`; the previous member's result, if any, is reported in the same round trip. */
  const claimAfter = async (prev: Ended | undefined, ref: RunRef, lock: JobLock | undefined): Promise<ClaimOutcome> => {
    const started = results.startedEvent(ref, now());
    if (!prev) return fence.claim(ref, started, lock, announceOnClaim);
    let r: Awaited<ReturnType<Fence['reportAndClaim']>>;
    try {
      r = await fence.reportAndClaim(prev.ref, results.resultOf(prev), ref, started, lock, announceOnClaim);
    } catch (err) {
      results.unreported(prev, err);
      throw err;
    }
    results.reported(prev, r.accepted);
    return r.claim;
  };

  /** Runs one claimed run to its end (or pretends to, simulating); its result, not yet reported. */
  const runClaimed = async (
    delivered: DeliveredJob,
    job: StepJob,
    ref: RunRef,
    run: number,
    jobLog: Logger,
    grant: Grant,
  ): Promise<Ended | undefined> => {
    // From here on the run is claimed: whatever happens, it must end in a report.
    const stepLog = lazyChild(jobLog, () => ({ run }));
    await presence
      .joinStudy(job.studyId)
      .catch((err: unknown) => stepLog.warn({ err }, 'cannot record the study in the worker list'));
    const startMs = now();
    if (config.simulate)
      return results.ended(ref, run, { outcome: 'succeeded', exitCode: 0, signal: null, pid: 0, startMs }, stepLog);
    // Claimed quietly: a step still running after announceDelayMs tells the study it started.
    const announced =
      announceOnClaim === 'later'
        ? after(config.announceDelayMs, () => {
            fence.announce(ref, { ...results.startedEvent(ref, startMs), run }).catch((err: unknown) => {
              stepLog.warn({ err }, 'could not tell the study that the step started; its result will');
            });
          })
        : undefined;
    try {
      return await steps.run(delivered.key, job, ref, run, stepLog, grant);
    } catch (err) {
      // steps.run() returns its result last, so nothing was reported yet.
      stepLog.error({ err }, 'worker error while running the step');
      const message = `the worker failed while running it: ${coerceError(err).message}`;
      return results.ended(
        ref,
        run,
        { outcome: 'failed', exitCode: null, signal: null, pid: 0, startMs, message },
        stepLog,
      );
    } finally {
      announced?.();
    }
  };

  /**
   * Members of a job handed back to the conductor unstarted (a bundle past its budget, the rest
   * of a broken chain): each is claimed and reported `interrupted` (not a failed attempt), and
   * the conductor sends it again once it may run, on its own or with others.
   */
  const sendBack = async (delivered: DeliveredJob, rest: readonly StepJob[], message: string): Promise<void> => {
    for (const member of rest) {
      const ref = refOf(member);
      const startMs = now();
      const claim = await fence.claim(ref, results.startedEvent(ref, startMs), delivered.lock, 'later');
      if (!claim.claimed) {
        if (claim.reason === 'lock') return; // another worker has the job, and these members
        continue;
      }
      const memberLog = log.child({ ...ref, jobId: delivered.id, run: claim.run });
      await results.report(
        results.ended(
          ref,
          claim.run,
          { outcome: 'interrupted', exitCode: null, signal: null, pid: 0, startMs, message },
          memberLog,
        ),
      );
    }
  };

  const processJob = async (delivered: DeliveredJob): Promise<Disposition> => {
    // Fetched just as the worker began to drain: hand it back unclaimed for another worker.
    if (lifecycle.state !== 'running') return 'give-back';
    idle.jobTaken();
    let disposition: Disposition | undefined;
    try {
      disposition = await handle(delivered);
      return disposition;
    } catch (err) {
      if (!(err instanceof WorkerError && err.code === WorkerErrorCode.JobRejected)) {
        log.error({ err, jobId: delivered.id, queue: delivered.queue }, 'step job failed in the worker');
      }
      throw err;
    } finally {
      steps.forgetLock(delivered.key);
      // A job handed back is not work: a worker that only sees jobs it cannot run goes idle.
      idle.jobDone(disposition !== 'later');
    }
  };

  // ---- presence, idle, shutdown ---------------------------------------------------------------

  let consumer: StepConsumer | undefined;
  let closing: Promise<void> | undefined;

  const close = (options: CloseOptions = {}): Promise<void> => {
    const immediately = options.now === true;
    if (options.preempt) lifecycle.endOutcome = 'preempted';
    lifecycle.stopRequested();
    if (closing) {
      if (options.preempt) steps.stopAll('preempted', immediately);
      else if (!options.drain) {
        log.info({ steps: steps.size }, 'stopping now: killing running steps');
        steps.stopAll(lifecycle.endOutcome, true);
      }
      return closing;
    }
    lifecycle.stopping = true;
    closing = (async () => {
      lifecycle.state = 'draining';
      const graceMs = options.preempt || immediately ? 0 : options.drain ? undefined : config.shutdownGraceMs;
      log.info(
        { steps: steps.size, graceMs, reason: options.preempt ? 'preempt' : options.drain ? 'drain' : 'stop' },
        'worker draining',
      );
      void heartbeat.beat();
      const consumerClosed = consumer?.close();
      let cancelGrace: (() => void) | undefined;
      if (options.preempt) steps.stopAll('preempted', immediately);
      else if (immediately) steps.stopAll(lifecycle.endOutcome, true);
      else if (!options.drain) {
        cancelGrace = after(config.shutdownGraceMs, () => {
          if (steps.size > 0) log.info({ steps: steps.size }, 'shutdown grace over: interrupting running steps');
          steps.stopAll(lifecycle.endOutcome, false);
        });
      }
      try {
        await consumerClosed;
      } catch (err) {
        log.error({ err }, 'closing the queues failed');
      }
      cancelGrace?.();
      allocation.stop();
      heartbeat.stop();
      idle.stop();
      try {
        await withTimeout(presence.remove(), EXIT_REDIS_TIMEOUT_MS);
      } catch (err) {
        log.warn({ err }, 'cannot remove the worker record; it expires by itself');
      }
      await launcher.close();
      await Promise.all([
        withTimeout(closeRedis(subscriber), EXIT_REDIS_TIMEOUT_MS),
        withTimeout(closeRedis(commands), EXIT_REDIS_TIMEOUT_MS),
      ]).catch(() => {
        subscriber.disconnect();
        commands.disconnect();
      });
      lifecycle.markStopped();
      log.info({ done: results.done }, 'worker stopped');
    })();
    return closing;
  };

  try {
    await control.subscribe(subscriber, config.prefix);
    // Before the first step: never start one that cannot finish in the allocation.
    await allocation.start();
    lifecycle.state = 'running';
    consumer = makeStepConsumer(
      {
        redis: commands,
        prefix: config.prefix,
        queues: config.queues,
        concurrency: config.concurrency,
        workerName: config.name,
        lockDurationMs: config.lockDurationMs,
        stalledIntervalMs: config.stalledIntervalMs,
        maxRunsPerAttempt: config.maxRunsPerAttempt,
        handBackDelayMs: config.handBackDelayMs,
      },
      {
        process: processJob,
        lockLost: (key) => steps.lockLost(key),
        error: (err, kind, queue) => {
          if (kind === 'lost-lock') log.warn({ err, queue }, 'BullMQ could not finish a job whose lock was lost');
          else if (kind === 'connection') warnConnection(() => log.warn({ err, queue }, 'queue connection error'));
          else log.error({ err, queue }, 'queue error');
        },
      },
    );
    await consumer.ready();
  } catch (err) {
    await close({ now: true });
    throw err;
  }
  await heartbeat.beat();
  heartbeat.start(config.heartbeatMs);
  idle.start();
  log.info(
    {
      redis: redactUrl(config.redisUrl),
      prefix: config.prefix,
      queues: config.queues,
      concurrency: config.concurrency,
      cores: config.cores,
      gpus: config.gpuIds,
      scheduler: config.scheduler,
      nodes: config.nodes,
      ...(allocation.stopAt !== undefined ? { stopAt: new Date(allocation.stopAt).toISOString() } : {}),
      simulate: config.simulate,
      pid: process.pid,
    },
    'worker started',
  );

  return {
    name: config.name,
    get state() {
      return lifecycle.state;
    },
    stopped: lifecycle.stopped,
    close,
  };
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

/** `logger` with these bindings, leaving out those it already has (pino would repeat them). */
function withBindings(logger: Logger, bindings: Record<string, string>): Logger {
  const have = logger.bindings();
  const missing = Object.fromEntries(Object.entries(bindings).filter(([k]) => !(k in have)));
  return Object.keys(missing).length > 0 ? logger.child(missing) : logger;
}

function watchConnection(redis: Redis, role: string, log: Logger, warnConnection: (write: () => void) => void): void {
  let down = false;
  redis.on('error', (err: Error) => {
    down = true;
    warnConnection(() => log.warn({ err, role }, 'redis connection error'));
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'redis connection restored');
  });
}
