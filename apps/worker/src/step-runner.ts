/**
 * The step runner: one claimed run, from its workspace to how it ended. It writes the step's
 * script, has the launcher spawn it, kills it (always its whole process group) at its walltime,
 * on a cancel, when its lock is lost or when the worker stops its steps, and returns its end
 * only once nothing of its group is left alive. It keeps the steps running now, by job key, and
 * the jobs whose lock was lost.
 */
import { expandLauncher, LauncherError, type StepJob } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { ControlChannel } from './control.js';
import { coerceError, WorkerError } from './errors.js';
import type { Lifecycle } from './lifecycle.js';
import { groupAlive, hasEnded, terminateGroup } from './process-group.js';
import type { RunRef } from './queue/fence.js';
import type { Ended, Results } from './results.js';
import { readRunRecord, writeRunRecord } from './run-record.js';
import { stepVariables, type SpawnedStep, type StepExit, type StepLauncher } from './run-step.js';
import type { Grant } from './slots.js';
import { killedFromOutside, outcomeOf, type EndOutcome, type KillReason } from './step-outcome.js';
import { after, type Now } from './timers.js';
import { prepareWorkspace } from './workspace.js';

/** How long a step killed from outside waits for its worker's own stop signal (see run). */
const SIGNAL_SETTLE_MS = 2_000;

interface RunningStep {
  readonly job: StepJob;
  /** Leader pid = process group id. */
  readonly pid: number;
  readonly log: Logger;
  exited: boolean;
  killReason?: KillReason;
  terminating?: Promise<void>;
  readonly escalate: { now: boolean };
}

type Prepared = ReturnType<typeof prepareWorkspace>;

export interface StepRunnerParts {
  config: Pick<WorkerConfig, 'name' | 'allocationId' | 'scheduler' | 'node' | 'gpuIds' | 'killGraceMs'>;
  launcher: StepLauncher;
  results: Results;
  lifecycle: Lifecycle;
  control: Pick<ControlChannel, 'isCancelled'>;
  log: Logger;
  now: Now;
}

export class StepRunner {
  readonly #p: StepRunnerParts;
  readonly #running = new Map<string, RunningStep>();
  readonly #lostLocks = new Set<string>();
  /** Set once the worker stops its steps: a step that starts after that is stopped at once. */
  #graceOver = false;

  constructor(parts: StepRunnerParts) {
    this.#p = parts;
  }

  /** Steps running now. */
  get size(): number {
    return this.#running.size;
  }

  /** BullMQ could not renew the lock of job `key`: its step, if running, is killed unreported. */
  lockLost(key: string): void {
    if (this.#lostLocks.has(key)) return; // BullMQ reports it again at every renewal round
    this.#lostLocks.add(key);
    const step = this.#running.get(key);
    this.#p.log.warn(
      { job: key, running: step !== undefined },
      'lock lost: the step may be re-delivered to another worker',
    );
    if (step) this.#kill(step, 'lock-lost');
  }

  isLockLost(key: string): boolean {
    return this.#lostLocks.has(key);
  }

  /** Job `key` is finished with: a later delivery of it starts with its lock. */
  forgetLock(key: string): void {
    this.#lostLocks.delete(key);
  }

  /** Kills the running steps the control channel now says are cancelled; returns how many. */
  killCancelled(): number {
    let steps = 0;
    for (const step of this.#running.values()) {
      if (this.#p.control.isCancelled(step.job)) {
        this.#kill(step, 'cancelled');
        steps++;
      }
    }
    return steps;
  }

  /** Stops every running step (and any that starts from now on), as `reason`. */
  stopAll(reason: EndOutcome, immediately: boolean): void {
    this.#graceOver = true;
    for (const step of this.#running.values()) this.#kill(step, reason, immediately);
  }

  /** Runs a claimed run; its end, or undefined when its lock was lost (then nothing is reported). */
  async run(
    key: string,
    job: StepJob,
    ref: RunRef,
    run: number,
    stepLog: Logger,
    grant: Grant,
  ): Promise<Ended | undefined> {
    const { config, lifecycle } = this.#p;
    const recorded = readRunRecord(job, ref);
    if (recorded) {
      // This attempt succeeded here before and its report was lost (a Redis failover): its
      // result is reported again instead of doing its work twice (run-record.ts).
      stepLog.warn(
        { pid: recorded.fields.pid, run },
        'result recovered from the workspace: the step already succeeded',
      );
      return { ref, run, fields: recorded.fields, endMs: recorded.endMs, log: stepLog };
    }
    const startMs = this.#p.now();
    const prepared = this.#prepare(job, stepLog);
    if (typeof prepared === 'string') return this.#failed(ref, run, startMs, stepLog, prepared);

    const spawned = this.#spawn(job, prepared, run, grant);
    const pid = await spawned.started;
    if (pid === undefined) {
      const exit = await spawned.exited;
      stepLog.error({ interpreter: job.interpreter, reason: exit.spawnError }, 'step could not start');
      return this.#failed(
        ref,
        run,
        startMs,
        stepLog,
        exit.spawnError ?? `cannot start ${job.interpreter.join(' ')}`,
        exit,
      );
    }

    const step: RunningStep = { job, pid, log: stepLog, exited: false, escalate: { now: false } };
    this.#running.set(key, step);
    stepLog.debug({ pid: step.pid, name: job.name, kind: job.kind, workspace: job.workspace }, 'step started');
    const cancelWalltime =
      job.timeoutMs === undefined ? undefined : after(job.timeoutMs, () => this.#kill(step, 'timedout'));
    // What happened while the step was being set up.
    if (this.#lostLocks.has(key)) this.#kill(step, 'lock-lost');
    else if (this.#p.control.isCancelled(job)) this.#kill(step, 'cancelled');
    else if (this.#graceOver) this.#kill(step, lifecycle.endOutcome);

    let exit: StepExit;
    try {
      exit = await spawned.exited;
      step.exited = true;
      // Nothing of the step outlives its result: background leftovers of its group go too.
      if (step.terminating) await step.terminating;
      else if (!exit.groupEmpty && (await groupAlive(step.pid))) {
        await terminateGroup(step.pid, config.killGraceMs, step.escalate).catch((err: unknown) =>
          stepLog.error({ err, pid: step.pid }, 'cannot kill what the step left running'),
        );
      }
    } finally {
      cancelWalltime?.();
      this.#running.delete(key);
    }

    if (step.killReason === 'lock-lost') {
      stepLog.warn({ pid: step.pid }, 'step killed after its lock was lost; result not reported');
      return undefined;
    }
    // Inside an allocation, a scheduler ending it signals the steps and the worker at once, and
    // the step's end may be seen first: wait a moment for the worker's own signal.
    if (
      step.killReason === undefined &&
      !lifecycle.stopping &&
      config.scheduler !== 'local' &&
      killedFromOutside(exit)
    ) {
      await lifecycle.stopSignalWithin(SIGNAL_SETTLE_MS);
    }
    return this.#ended(step, exit, ref, run, startMs);
  }

  /** The step's script expanded and written into its workspace; a message saying why not. */
  #prepare(job: StepJob, stepLog: Logger): Prepared | string {
    const { config } = this.#p;
    try {
      const script = expandLauncher(job.script, {
        scheduler: config.scheduler,
        resources: job.resources,
        node: config.node,
      });
      return prepareWorkspace(job, script);
    } catch (err) {
      const known = err instanceof WorkerError || err instanceof LauncherError;
      const message = known ? err.message : `cannot prepare ${job.workspace}: ${coerceError(err).message}`;
      stepLog.error({ workspace: job.workspace, reason: message }, 'step could not start');
      return message;
    }
  }

  #spawn(job: StepJob, prepared: Prepared, run: number, grant: Grant): SpawnedStep {
    const { config } = this.#p;
    return this.#p.launcher.spawnStep({
      interpreter: job.interpreter,
      scriptPath: prepared.files.script,
      cwd: job.workspace,
      variables: stepVariables(job, {
        run,
        worker: config.name,
        cores: grant.cores,
        // Only a worker that manages GPUs says which ones a step gets (none, for a CPU step).
        gpuIds: config.gpuIds.length > 0 ? grant.gpuIds : undefined,
      }),
      stdoutPath: prepared.files.out,
      stderrPath: prepared.files.err,
      mayHoldEarlierOutput: !prepared.created,
    });
  }

  #kill(step: RunningStep, reason: KillReason, immediately = false): void {
    if (step.exited) return;
    if (step.killReason) {
      if (immediately) step.escalate.now = true;
      return;
    }
    // A step that already ended on its own (exited while the worker was frozen, not yet reaped)
    // keeps its own result: the fence decides whether it still counts.
    if (hasEnded(step.pid)) return;
    step.killReason = reason;
    step.escalate.now = immediately;
    if (reason === 'lock-lost') step.log.warn({ pid: step.pid }, 'killing step: its lock was lost');
    else step.log.info({ pid: step.pid, reason }, 'killing step');
    step.terminating = terminateGroup(step.pid, immediately ? 0 : this.#p.config.killGraceMs, step.escalate).catch(
      (err: unknown) => step.log.error({ err, pid: step.pid }, 'cannot kill the step process group'),
    );
  }

  /** A run that ended before its step could start. */
  #failed(ref: RunRef, run: number, startMs: number, stepLog: Logger, message: string, exit?: StepExit): Ended {
    const fields = {
      outcome: 'failed' as const,
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      pid: 0,
      startMs,
      message,
    };
    return this.#p.results.ended(ref, run, fields, stepLog);
  }

  #ended(step: RunningStep, exit: StepExit, ref: RunRef, run: number, startMs: number): Ended {
    const { config, lifecycle } = this.#p;
    const { outcome, message } = outcomeOf(exit, step.killReason, step.job, {
      worker: config.name,
      allocation: config.allocationId,
      // A step that dies of a signal while its worker stops was most likely killed by the same
      // hand (the scheduler ending the allocation): handed back, not failed.
      stopping: lifecycle.stopping ? lifecycle.endOutcome : undefined,
    });
    const fields = {
      outcome,
      exitCode: exit.exitCode,
      signal: exit.signal,
      pid: step.pid,
      startMs,
      ...(message ? { message } : {}),
    };
    const ended = this.#p.results.ended(ref, run, fields, step.log);
    if (outcome === 'succeeded') writeRunRecord(step.job, ref, { fields, endMs: ended.endMs });
    return ended;
  }
}
