/**
 * The state machine of a study's instances, pure: what workers report, what reconciliation found
 * and a cancel go in; states, counters and the ready list come out. No Redis, no clock (time is an
 * argument), no logger (what deserves a line goes to `note`). The conductor's hot path (thousands of
 * results a second) runs through here: packed records and typed arrays, no object per instance.
 *
 * An instance goes INITIALIZED (or PREEMPTED) -> PENDING (sent) -> RUNNING (started) -> FINISHED,
 * FAILED, TIMEDOUT or CANCELLED. Those four are final: an event for an instance in one is ignored,
 * so a finished step stays FINISHED whatever arrives after it (a cancel, a late result, a replay).
 * A failure goes back to INITIALIZED as a new attempt while `-a` allows; a timeout runs the restart
 * command as a new attempt while `-r` allows; a hand-back (interrupted, preempted) runs again without
 * counting; a failure for good fails every descendant, as Maestro does. In a Merlin study, exit
 * codes 100-106 are requests instead (return-codes.ts): retries, restarts, soft or hard failures.
 *
 * A failed run on a bad node (quarantine.ts) does not count. A cancel comes in two steps (nothing
 * finished is ever recorded CANCELLED): cancel() stops sending; settleCancel() cancels the unclaimed.
 */
import {
  isFinalState,
  STATE_FLAG_DELAYED,
  STATE_FLAG_RELEASED,
  STATE_FLAG_RESTART,
  StepState,
  StudyRecordField as F,
  type StepEvent,
  type StepResult,
  type StudyStateName,
} from '@maestro/protocol';
import { ReadinessTracker, type Graph } from '@maestro/dag';
import type { ExpandedStudy } from '@maestro/spec';
import { NodeHourBudget } from './budget.js';
import { ChangeSet } from './change-set.js';
import { FinishRate } from './finish-rate.js';
import { buildInstanceGraph } from './instance-graph.js';
import type { InstanceRecords } from './instance-records.js';
import type { InstanceNote, Reporter } from './notes.js';
import { ReadyQueue } from './ready-queue.js';
import { NodeHealth, type QuarantineSettings } from './quarantine.js';
import { merlinActionOf, returnCodeName, type RetrySettings } from './return-codes.js';
import { StepTiming } from './step-timing.js';
import { WorkerNames } from './worker-names.js';

export interface ConductorLimits {
  /** Runs of a failing command before it counts as FAILED (`-a`). @default 1 */
  attempts: number;
  /** Restart-command runs after timeouts; 0 = unlimited (`-r`). @default 1 */
  rlimit: number;
  /** Instances queued or running at once; 0 = unlimited (`-t`). @default 0 */
  throttle: number;
  budget?: number | undefined; // node-hours to spend and commit, 0 = unlimited (`--budget`, budget.ts)
}

/** Failed instances remembered by index for the status files (the counts cover the rest). */
export const MAX_FAILURES_TRACKED = 1000;
/** Counters are kept per state code, and StepState's codes are 0..15. */
export const STATE_CODES = 16;

export type { InstanceNote } from './notes.js';

export interface InstanceMachineOptions {
  readonly limits: ConductorLimits;
  /** StudyRecordField.workerNames as stored, when resuming. */
  readonly workerNames?: string | undefined;
  /** Told what deserves a log line. */
  readonly note?: ((note: InstanceNote) => void) | undefined;
  /** Where changes are gathered for the next commit; a new set unless given. */
  readonly changes?: ChangeSet | undefined;
  /**
   * A Merlin study's retry settings, by step index: exit codes 100-106 are then Merlin's requests
   * (return-codes.ts). Undefined: a Maestro study, where any non-zero exit is a failure.
   */
  readonly merlinRetries?: readonly RetrySettings[] | undefined;
  /** StudyRecordField.stoppedBy as stored, when resuming. */
  readonly stoppedBy?: string | undefined;
  readonly quarantine?: { settings?: Partial<QuarantineSettings>; stored?: string | undefined }; // quarantine.ts
}

export class InstanceMachine {
  readonly expanded: ExpandedStudy;
  readonly records: InstanceRecords;
  /** What changed since the last commit. */
  readonly changes: ChangeSet;
  /** Instances whose parents all finished, in the order they are to be sent. */
  readonly ready = new ReadyQueue();
  readonly timing: StepTiming;
  readonly budget: NodeHourBudget;
  readonly finishRate = new FinishRate();
  readonly workers: WorkerNames;
  readonly health: NodeHealth;
  readonly graph: Graph;
  readonly tracker: ReadinessTracker;
  readonly #counts = new Int32Array(STATE_CODES);
  /** Instances per state, per step: step s at [s * STATE_CODES + state]. */
  readonly #stepCounts: Int32Array;
  readonly #failed: number[] = [];
  /** Per instance: 1 while it is in flight and its end could let something be sent. */
  readonly #awaited: Uint8Array;
  #awaitedCount = 0;
  #queued = 0;
  #running = 0;
  #limits: ConductorLimits;
  #cancelRequested = false;
  #cancelled = false;
  /** When instances still in flight after a cancel are CANCELLED anyway (0: no cancel pending). */
  #cancelDeadline = 0;
  readonly #note: (note: InstanceNote) => void;
  readonly #merlinRetries: readonly RetrySettings[] | undefined;
  #stoppedBy: string | undefined;
  #stopWorkersAsked = false;

  /** A machine over `records` as they are (all INITIALIZED for a new study, as stored on resume). */
  constructor(x: ExpandedStudy, records: InstanceRecords, options: InstanceMachineOptions) {
    this.expanded = x;
    this.records = records;
    this.changes = options.changes ?? new ChangeSet(x.instanceCount);
    this.timing = new StepTiming(x.steps.length);
    this.budget = new NodeHourBudget(x, this.timing, records);
    this.#stepCounts = new Int32Array(x.steps.length * STATE_CODES);
    this.#awaited = new Uint8Array(x.instanceCount);
    this.#note = options.note ?? (() => undefined);
    this.#merlinRetries = options.merlinRetries;
    this.#stoppedBy = options.stoppedBy;
    const q = options.quarantine;
    this.health = new NodeHealth(q?.settings, q?.stored, (json) => this.changes.setField(F.quarantine, json));
    this.workers = new WorkerNames(options.workerNames, (json) => this.changes.setField(F.workerNames, json));
    this.#limits = { ...options.limits };
    this.#writeLimits();
    const { graph, passThrough } = buildInstanceGraph(x);
    this.graph = graph;
    const r = records;
    for (let i = 0; i < x.instanceCount; i++) {
      const s = r.state(i);
      this.#counts[s]!++;
      this.#stepCounts[x.stepIndexOf(i) * STATE_CODES + s]!++;
      if ((s === StepState.FAILED || s === StepState.TIMEDOUT) && this.#failed.length < MAX_FAILURES_TRACKED)
        this.#failed.push(i);
      if (s === StepState.PENDING) this.#queued++;
      else if (s === StepState.RUNNING) this.#running++;
      if (s === StepState.PENDING || s === StepState.RUNNING) this.#await(i);
      if (s === StepState.FINISHED) this.timing.record(x.stepIndexOf(i), r.startMs(i), r.endMs(i));
    }
    const released = (i: number): boolean => isFinalState(r.state(i)) && (r.flags(i) & STATE_FLAG_RELEASED) !== 0;
    const restored = ReadinessTracker.restore(
      graph,
      (i) => r.state(i) === StepState.FINISHED || released(i),
      (i) => {
        const s = r.state(i);
        return (s === StepState.FAILED || s === StepState.TIMEDOUT || s === StepState.CANCELLED) && !released(i);
      },
      { passThrough, onReady: (i) => this.waitsToBeSent(i) && this.ready.push(i) },
    );
    this.tracker = restored.tracker;
  }

  // ---- what the conductor reads ---------------------------------------------------------------

  get limits(): Readonly<ConductorLimits> {
    return this.#limits;
  }
  /** A cancel was asked for (carried out or not). */
  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }
  /** Why the study stopped itself (a Merlin HARD_FAIL), if it did: it ends FAILURE. */
  get stoppedBy(): string | undefined {
    return this.#stoppedBy;
  }
  /** Whether a step asked for the workers to stop (Merlin's STOP_WORKERS) since the last call. */
  takeStopWorkers(): boolean {
    const asked = this.#stopWorkersAsked;
    this.#stopWorkersAsked = false;
    return asked;
  }
  /** A cancel is being carried out: nothing is sent or retried any more. */
  get cancelled(): boolean {
    return this.#cancelled;
  }
  /** Instances PENDING (sent, not started). */
  get queued(): number {
    return this.#queued;
  }
  get running(): number {
    return this.#running;
  }
  /** Instances in flight whose end could let something be sent (see IDLE_READS_MS). */
  get awaitedCount(): number {
    return this.#awaitedCount;
  }
  /** Instances per state code. */
  get counts(): Readonly<Int32Array> {
    return this.#counts;
  }
  /** The first instances to end FAILED or TIMEDOUT (at most MAX_FAILURES_TRACKED). */
  get failedInstances(): readonly number[] {
    return this.#failed;
  }
  /** How many instances of step `s` are in each state (index = state code). */
  stepCounts(s: number): Int32Array {
    return this.#stepCounts.subarray(s * STATE_CODES, s * STATE_CODES + STATE_CODES);
  }
  /** Whether instance `i` waits to be sent (not sent, not ended). */
  waitsToBeSent(i: number): boolean {
    const s = this.records.state(i);
    return s === StepState.INITIALIZED || s === StepState.PREEMPTED;
  }
  /** Instances PENDING or RUNNING, ascending. */
  inFlight(): number[] {
    const out: number[] = [];
    const r = this.records;
    for (let i = 0; i < r.count; i++) {
      const s = r.state(i);
      if (s === StepState.PENDING || s === StepState.RUNNING) out.push(i);
    }
    return out;
  }
  finalCount(): number {
    const c = this.#counts;
    return c[StepState.FINISHED]! + c[StepState.FAILED]! + c[StepState.TIMEDOUT]! + c[StepState.CANCELLED]!;
  }
  isDone(): boolean {
    return this.finalCount() === this.expanded.instanceCount;
  }
  /** The study's state once every instance is final. */
  finalState(): StudyStateName {
    const c = this.#counts;
    if (this.#stoppedBy !== undefined) return 'FAILURE';
    if (this.#cancelled || c[StepState.CANCELLED]! > 0) return 'CANCELLED';
    if (c[StepState.FAILED]! > 0 || c[StepState.TIMEDOUT]! > 0) return 'FAILURE';
    return 'FINISHED';
  }

  // ---- what workers report --------------------------------------------------------------------

  /** Applies one event from the study's stream (the conductor's hot path). */
  applyEvent(ev: StepEvent, now: number): void {
    const i = ev.index;
    const r = this.records;
    if (i < 0 || i >= r.count) {
      this.#note({ kind: 'unknown-instance', index: i });
      return;
    }
    if (isFinalState(r.state(i))) return;
    // The next attempt: sent by a conductor that died before its commit (see COMMIT_DELAY_MS).
    if (ev.attempt === r.attempt(i) + 1) this.#adopt(i, ev.attempt, now);
    else if (ev.attempt !== r.attempt(i)) return; // stale: a newer attempt exists
    const worker = this.workers.ref(ev.worker, ev.host);
    if (ev.type === 'started') {
      if (r.state(i) === StepState.PENDING) this.#setState(i, StepState.RUNNING);
      this.health.seen(ev.host);
      r.setStartMs(i, ev.startMs);
      r.setEndMs(i, 0);
      r.setWorker(i, worker);
      this.changes.touch(i);
      return;
    }
    this.#applyResult(i, ev, worker, now);
  }

  /**
   * Takes attempt `attempt` of instance `i` as sent: a conductor before this one enqueued it and
   * died before committing that. Replaying the same events, this one would send the same job
   * (its id names the instance and attempt, and a step of one instance is never bundled); its
   * result must count, or the job it enqueued again would be refused by the fence as done.
   */
  #adopt(i: number, attempt: number, now: number): void {
    const r = this.records;
    this.#note({ kind: 'adopted', index: i, attempt });
    r.setAttempt(i, attempt);
    r.setBundle(i, i);
    if (!r.submitMs(i)) r.setSubmitMs(i, now);
    const s = r.state(i);
    if (s !== StepState.PENDING && s !== StepState.RUNNING) {
      this.#setState(i, StepState.PENDING);
      this.#await(i);
    }
  }

  #applyResult(i: number, ev: StepResult, worker: number, now: number): void {
    const r = this.records;
    // Handed back unstarted (a bundle past its budget, the rest of a broken chain): no run to record.
    if (ev.outcome !== 'interrupted' || ev.pid !== 0) {
      r.setEndMs(i, ev.endMs);
      if (!r.startMs(i)) r.setStartMs(i, ev.startMs);
      r.setPid(i, ev.pid);
      r.setExitCode(i, ev.exitCode ?? -1);
    }
    r.setWorker(i, worker);
    if (ev.outcome === 'succeeded' || ev.outcome === 'failed')
      this.timing.record(this.expanded.stepIndexOf(i), ev.startMs, ev.endMs);
    switch (ev.outcome) {
      case 'succeeded':
        this.health.succeeded(ev.host, this.expanded.stepIndexOf(i));
        this.#finish(i, StepState.FINISHED, now);
        for (const c of this.tracker.complete(i)) this.ready.push(c);
        return;
      case 'failed':
      case 'rejected':
        if (ev.outcome === 'failed' && this.#merlinResult(i, ev)) return;
        // A run failed on a host that fails far more than the rest does not count: it runs again.
        if (ev.outcome === 'failed' && this.health.failed(ev.host, this.expanded.stepIndexOf(i), now) !== 'charged')
          return this.#handedBack(i, { ...ev, message: `not counted: ${ev.host} fails far more than the rest` });
        this.#failedRun(i, ev, ev.exitCode, ev.signal, ev.message);
        return;
      case 'timedout':
        this.#timedOut(i, ev);
        return;
      case 'cancelled':
        this.#fail(i, StepState.CANCELLED);
        return;
      case 'interrupted':
      case 'preempted':
        this.#handedBack(i, ev);
        return;
      default: {
        const never: never = ev.outcome;
        throw new Error(`unknown outcome ${String(never)}`);
      }
    }
  }

  /** A run that failed: again as a new attempt while `-a` allows (and no cancel), else FAILED. */
  #failedRun(
    i: number,
    who: Reporter,
    exitCode: number | null,
    signal: string | null,
    message: string | undefined,
  ): void {
    const r = this.records;
    const tries = r.tries(i) + 1;
    r.setTries(i, tries);
    const again = !this.#cancelled && tries < this.#limits.attempts;
    const { index, attempt, worker } = who;
    this.#note({ kind: again ? 'retrying' : 'failed', index, attempt, worker, exitCode, signal, tries, message });
    if (again) this.#retry(i);
    else this.#fail(i, StepState.FAILED);
  }

  /** A run that exited one of Merlin's return codes, in a Merlin study: acts and returns true. */
  #merlinResult(i: number, ev: StepResult): boolean {
    const action = merlinActionOf(ev.exitCode);
    const settings = this.#merlinRetries?.[this.expanded.stepIndexOf(i)];
    if (action === undefined || settings === undefined) return false;
    const r = this.records;
    const retries = r.restarts(i);
    const retry = action === 'retry' || action === 'restart';
    const maxRetriesReached = retry && retries >= settings.maxRetries;
    const { attempt, worker } = ev;
    this.#note({ kind: 'merlin', index: i, attempt, worker, action, retries, maxRetriesReached });
    if (action === 'raise-error' || (retry && this.#cancelled)) this.#fail(i, StepState.FAILED);
    else if (retry && !maxRetriesReached) {
      r.setRestarts(i, retries + 1);
      r.setFlags(i, (r.flags(i) & ~STATE_FLAG_RESTART) | (action === 'restart' ? STATE_FLAG_RESTART : 0));
      this.#retry(i, StepState.INITIALIZED, settings.retryDelayMs > 0);
    } else if (action === 'hard-fail') {
      this.#stoppedBy = `${this.expanded.instanceName(i)} exited ${returnCodeName(ev.exitCode!)}: the study stopped`;
      this.changes.setField(F.stoppedBy, this.#stoppedBy);
      this.#fail(i, StepState.FAILED);
      this.requestCancel();
    } else {
      // Soft-fail (retries used up are one, as in Merlin) and stop-workers: the workflow goes on.
      if (action === 'stop-workers') this.#stopWorkersAsked = true;
      r.setFlags(i, r.flags(i) | STATE_FLAG_RELEASED);
      this.#finish(i, action === 'stop-workers' ? StepState.CANCELLED : StepState.FAILED, 0);
      for (const c of this.tracker.complete(i)) this.ready.push(c);
    }
    return true;
  }

  /** A run killed at its walltime: its restart command next while `-r` allows, else FAILED (TIMEDOUT without one). */
  #timedOut(i: number, ev: StepResult): void {
    const r = this.records;
    const hasRestart = this.expanded.instance(i).restart !== undefined;
    const restarts = r.restarts(i);
    const { index, attempt, worker } = ev;
    if (!this.#cancelled && hasRestart && (this.#limits.rlimit === 0 || restarts < this.#limits.rlimit)) {
      r.setRestarts(i, restarts + 1);
      r.setFlags(i, r.flags(i) | STATE_FLAG_RESTART);
      this.#note({ kind: 'restarting', index, attempt, worker, restarts: restarts + 1, hasRestart });
      this.#retry(i);
    } else {
      this.#note({ kind: 'timed-out', index, attempt, worker, restarts, hasRestart });
      this.#fail(i, hasRestart ? StepState.FAILED : StepState.TIMEDOUT);
    }
  }

  /** Interrupted or preempted: not a failed attempt, it runs again (CANCELLED once the study is). */
  #handedBack(i: number, ev: StepResult): void {
    if (this.#cancelled) {
      this.#finish(i, StepState.CANCELLED, 0);
      return;
    }
    const preempted = ev.outcome === 'preempted';
    // Preempted mid-run, it resumes through its restart command when it has one.
    if (preempted && this.expanded.instance(i).restart !== undefined) {
      this.records.setFlags(i, this.records.flags(i) | STATE_FLAG_RESTART);
    }
    const { index, attempt, worker, outcome, message } = ev;
    this.#note({ kind: 'handed-back', index, attempt, worker, outcome, message });
    this.#retry(i, preempted ? StepState.PREEMPTED : StepState.INITIALIZED);
  }

  // ---- what the conductor decides -------------------------------------------------------------

  /** Makes instance `i` PENDING as its next attempt, in the bundle that `bundle` leads. */
  send(i: number, bundle: number, now: number): void {
    const r = this.records;
    r.setAttempt(i, r.attempt(i) + 1);
    r.setBundle(i, bundle);
    if (!r.submitMs(i)) r.setSubmitMs(i, now);
    this.#setState(i, StepState.PENDING);
    this.#await(i);
  }

  /** Instance `i`'s end can no longer let anything be sent (its only child rides after it in its job). */
  unawait(i: number): void {
    if (!this.#awaited[i]) return;
    this.#awaited[i] = 0;
    this.#awaitedCount--;
  }

  /** `maestro update`: new limits, for what is sent and retried from now on. */
  updateLimits(u: { throttle?: number | undefined; rlimit?: number | undefined }): void {
    if (u.throttle !== undefined) this.#limits.throttle = u.throttle;
    if (u.rlimit !== undefined) this.#limits.rlimit = u.rlimit;
    this.#writeLimits();
  }

  /** Reconciliation found attempt `attempt` of `i` gone without a result (Redis lost it, or BullMQ
   * failed its job as stalled: its workers lost their locks): it runs again as a new attempt, not
   * counted against `-a`, or is CANCELLED once the study is. Ignored unless still in flight (a
   * subtree may have failed). */
  lost(i: number, attempt: number): void {
    if (!this.#inFlightAt(i, attempt)) return;
    if (this.#cancelled) this.#finish(i, StepState.CANCELLED, 0);
    else this.#retry(i);
  }

  /** Reconciliation found attempt `attempt` of `i` failed in the queue without a result: a failed
   * run (no host to blame). Ignored unless that attempt is still in flight. */
  failedInQueue(i: number, attempt: number, message: string, now: number): void {
    if (!this.#inFlightAt(i, attempt)) return;
    const r = this.records;
    r.setEndMs(i, now);
    if (!r.startMs(i)) r.setStartMs(i, now);
    r.setPid(i, 0);
    r.setExitCode(i, -1);
    r.setWorker(i, 0);
    this.#failedRun(i, { index: i, attempt: r.attempt(i), worker: '' }, null, null, message);
  }

  /** A cancel was asked for, written with the next commit (the cancelled flag): a conductor that dies
   * first leaves it to the next; workers then claim nothing more. cancel() and settleCancel() do it. */
  requestCancel(): void {
    if (this.#cancelRequested) return;
    this.#cancelRequested = true;
    this.changes.setField(F.cancelled, '1');
  }

  /** Cancel, first step: nothing is sent or retried any more, what is handed back is CANCELLED; nothing
   * else yet (settleCancel). Still in flight at `deadlineMs`: CANCELLED then (cancelExpired). */
  cancel(deadlineMs: number): void {
    if (this.#cancelled) return;
    this.requestCancel();
    this.#cancelled = true;
    this.#cancelDeadline = deadlineMs;
    this.ready.clear();
  }

  /**
   * Cancel, second step, once no worker can claim a run any more (the cancelled flag is
   * committed; the fence refuses claims after it): CANCELLED now is every instance that no worker
   * claimed, which can therefore never run. `claimedAttempt(i)` is the attempt of instance i's
   * newest claim (its fence entry), 0 if none. Claimed instances stay in flight until their result
   * or the deadline: one may have finished, its result on the way. Returns the instances
   * cancelled while PENDING: their jobs wait in the queue.
   */
  settleCancel(claimedAttempt: (i: number) => number): number[] {
    const queued: number[] = [];
    if (!this.#cancelled) return queued;
    const r = this.records;
    for (let i = 0; i < r.count; i++) {
      const s = r.state(i);
      if (isFinalState(s) || s === StepState.RUNNING) continue;
      const claimed = claimedAttempt(i);
      if (s === StepState.PENDING) {
        if (claimed >= r.attempt(i)) continue;
        queued.push(i);
        // Sent but not yet written by an earlier conductor, and claimed: its result is adopted.
      } else if (claimed === r.attempt(i) + 1) continue;
      this.#finish(i, StepState.CANCELLED, 0);
    }
    return queued;
  }

  /**
   * Past the cancel's deadline: the instances that have not ended (their workers are gone or
   * stuck). Their fence entries go with the next commit, after which no late result is accepted;
   * once it is written and the events drained, abandon() them.
   */
  cancelExpired(now: number): number[] {
    const late: number[] = [];
    if (!this.#cancelled || !this.#cancelDeadline || now <= this.#cancelDeadline) return late;
    this.#cancelDeadline = 0;
    const r = this.records;
    for (let i = 0; i < r.count; i++) {
      if (isFinalState(r.state(i))) continue;
      late.push(i);
      this.changes.deleteFence(i);
    }
    return late;
  }

  /**
   * CANCELLED: the instances of cancelExpired() that still have not ended. Returns those that
   * were in flight (their jobs may be left in the queue).
   */
  abandon(late: readonly number[]): number[] {
    const inFlight: number[] = [];
    for (const i of late) {
      const s = this.records.state(i);
      if (isFinalState(s)) continue;
      if (s === StepState.PENDING || s === StepState.RUNNING) inFlight.push(i);
      this.#finish(i, StepState.CANCELLED, 0);
    }
    return inFlight;
  }

  // ---- transitions ----------------------------------------------------------------------------

  #inFlightAt(i: number, attempt: number): boolean {
    const s = this.records.state(i);
    return (s === StepState.PENDING || s === StepState.RUNNING) && this.records.attempt(i) === attempt;
  }

  #setState(i: number, s: number): void {
    const r = this.records;
    const old = r.state(i);
    if (old === s) return;
    this.#counts[old]!--;
    this.#counts[s]!++;
    const base = this.expanded.stepIndexOf(i) * STATE_CODES;
    this.#stepCounts[base + old]!--;
    this.#stepCounts[base + s]!++;
    if (old === StepState.PENDING) this.#queued--;
    else if (old === StepState.RUNNING) this.#running--;
    if (s === StepState.PENDING) this.#queued++;
    else if (s === StepState.RUNNING) this.#running++;
    else this.unawait(i);
    this.budget.moved(i, old, s, r.startMs(i), r.endMs(i));
    r.setState(i, s);
    this.changes.touch(i);
  }

  /** Instance `i` ends in final state `s` (`now` counts a FINISHED one in the finish rate). */
  #finish(i: number, s: number, now: number): void {
    this.#setState(i, s);
    if ((s === StepState.FAILED || s === StepState.TIMEDOUT) && this.#failed.length < MAX_FAILURES_TRACKED)
      this.#failed.push(i);
    this.changes.deleteFence(i);
    if (s === StepState.FINISHED) {
      const r = this.records;
      this.finishRate.record(now, r.startMs(i) > 0 && r.endMs(i) >= r.startMs(i) ? r.endMs(i) - r.startMs(i) : 0);
    }
  }

  /** A failure fails every descendant, as in Maestro; other branches go on. */
  #fail(i: number, s: number): void {
    this.#finish(i, s, 0);
    for (const d of this.tracker.fail(i)) {
      if (!isFinalState(this.records.state(d))) this.#finish(d, StepState.FAILED, 0);
    }
  }

  /**
   * Back to waiting (INITIALIZED or PREEMPTED), first in line once its parents are done; `delayed`:
   * its next job waits the step's retry_delay in the queue (STATE_FLAG_DELAYED).
   */
  #retry(i: number, state: number = StepState.INITIALIZED, delayed = false): void {
    const r = this.records;
    r.setFlags(i, delayed ? r.flags(i) | STATE_FLAG_DELAYED : r.flags(i) & ~STATE_FLAG_DELAYED);
    this.#setState(i, state);
    // A chain's member handed back before its parent ended is sent when the parent finishes.
    if (this.tracker.remainingParents(i) > 0) return;
    this.ready.pushFront(i);
  }

  /** Counts in-flight instance `i` as awaited if it has children (see IDLE_READS_MS). */
  #await(i: number): void {
    if (this.#awaited[i] || this.graph.childCount(i) === 0) return;
    this.#awaited[i] = 1;
    this.#awaitedCount++;
  }

  #writeLimits(): void {
    this.changes.setField(F.attempts, String(this.#limits.attempts));
    this.changes.setField(F.rlimit, String(this.#limits.rlimit));
    this.changes.setField(F.throttle, String(this.#limits.throttle));
  }
}
