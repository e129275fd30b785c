/**
 * The conductor: the only writer of a study's state. It enqueues each ready instance once,
 * applies the results workers report, and keeps its state in Redis so that another conductor can
 * pick the study up after a crash.
 *
 * One loop, no polling: block on the study's events and control streams, apply a batch, commit
 * it (one Lua call, fenced by the lease), then enqueue what became ready (sent behind the commit
 * on the same connection). A crash between the commit and the enqueue leaves PENDING instances
 * without a job: reconciliation finds them.
 *
 * This class only wires the parts that do the work: the instance state machine
 * (instance-machine.ts, pure), dispatch (dispatch.ts), result intake (intake.ts), reconciliation
 * (reconcile.ts), cancel (cancel.ts), persistence (persistence.ts) and the lease (lease.ts).
 */
import { isFinalState, StepState, stepStateName, StudyRecordField as F, type StudyStateName } from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import type { StepQueues } from '../queue/index.js';
import { LeaseLostError, type StudyStore } from '../redis/index.js';
import { carryOutCancel, expireCancel, type CancelParts } from './cancel.js';
import { ChangeSet } from './change-set.js';
import { Dispatcher, type BundlePolicy } from './dispatch.js';
import { estimateLeft, type Estimate, type StepLeft } from './eta.js';
import { InstanceMachine, STATE_CODES, type ConductorLimits } from './instance-machine.js';
import { InstanceRecords } from './instance-records.js';
import { readPauseMs, ResultIntake, type StreamCursors } from './intake.js';
import { StudyLease } from './lease.js';
import { logNote } from './notes.js';
import { StudyPersistence } from './persistence.js';
import { applyReconciled, MissingJobs, reconcile } from './reconcile.js';
import type { RetrySettings } from './return-codes.js';
import type { QuarantineEvidence, QuarantineSettings } from './quarantine.js';
import { queueNamesOf } from './step-jobs.js';
import type { RuntimeSummary } from './step-timing.js';
import { FINISH_WINDOW_MS, LOST_GRACE_MS, RECONCILE_EVERY_MS } from './timing.js';

export type { BundlePolicy } from './dispatch.js';
export type { ConductorLimits } from './instance-machine.js';
export { ConductorBusyError } from './lease.js';

export interface ConductorOptions {
  readonly expanded: ExpandedStudy;
  readonly studyId: string;
  readonly prefix: string;
  readonly store: StudyStore;
  readonly queues: StepQueues;
  readonly log: Logger;
  /** Limits given on the command line; on resume, missing ones come from the stored study. */
  readonly limits: Partial<ConductorLimits>;
  /** A Merlin study's retry settings by step (retrySettingsOf); undefined for a Maestro study. */
  readonly merlinRetries?: readonly RetrySettings[] | undefined;
  /** Bad-node quarantine thresholds (quarantine.ts); defaults where not given. */
  readonly quarantine?: Partial<QuarantineSettings> | undefined;
  /** Most instances waiting in Redis at once (`--window`). */
  readonly window: number;
  /** How short instances are bundled; undefined sends every instance alone. */
  readonly bundle?: BundlePolicy | undefined;
  /** After a cancel, how long running steps get to report before they are marked CANCELLED. */
  readonly cancelGraceMs: number;
  readonly leaseTtlMs: number;
  /** How long a job missing from Redis waits, still missing, before it runs again. @default LOST_GRACE_MS */
  readonly lostGraceMs?: number;
  /** Public description stored in the study hash (name, root, ...): no credentials. */
  readonly publicMeta: Record<string, unknown>;
  /** Called after every applied batch, for progress bars and status files. */
  readonly onProgress?: ((p: Progress) => void) | undefined;
  /** Called after a batch changed instances, with the conductor, to mirror state to files. */
  readonly onChange?: ((c: Conductor) => void) | undefined;
  /** The clock (epoch ms) every decision reads. @default Date.now */
  readonly now?: () => number;
  /** How the loop waits between reads and for a lease. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface Progress {
  readonly total: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly running: number;
  readonly queued: number;
  /** Instances finished per second, over the last minute. */
  readonly ratePerSec: number;
  /** Estimated time left: from the steps' run times once some are timed, else from the rate. */
  readonly etaMs: number | undefined;
  /** Where the time left falls nine times in ten (eta.ts); absent for a rate-based guess. */
  readonly etaRange: { readonly lowMs: number; readonly highMs: number; readonly measured: number } | undefined;
  readonly state: StudyStateName;
  readonly startedMs: number;
}

const DEFAULT_LIMITS: Readonly<ConductorLimits> = { attempts: 1, rlimit: 1, throttle: 0 };

/** The parts the loop wires, built once the stored study has been read. */
interface Parts {
  readonly machine: InstanceMachine;
  readonly dispatcher: Dispatcher;
  readonly intake: ResultIntake;
  readonly persistence: StudyPersistence;
}

export class Conductor {
  readonly expanded: ExpandedStudy;
  readonly records: InstanceRecords;
  readonly #o: ConductorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #lease: StudyLease;
  /** Changes for the next commit; here from the start, for reportBlocked() before run(). */
  readonly #changes: ChangeSet;
  #parts: Parts | undefined;
  #state: StudyStateName = 'RUNNING';
  #startedMs = 0;
  #stopRequested = false;
  #budgetStop: string | undefined;
  #lastReconcile = 0;
  readonly #missing: MissingJobs;
  /** When to look again for jobs found missing (MissingJobs); undefined: none waits. */
  #recheckAt: number | undefined;
  #reconnected = false;

  constructor(options: ConductorOptions) {
    this.#o = options;
    this.expanded = options.expanded;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.records = InstanceRecords.empty(options.expanded.instanceCount);
    this.#changes = new ChangeSet(options.expanded.instanceCount);
    this.#missing = new MissingJobs(options.lostGraceMs ?? LOST_GRACE_MS);
    this.#lease = new StudyLease({
      store: options.store,
      ttlMs: options.leaseTtlMs,
      log: options.log,
      now: this.#now,
      sleep: this.#sleep,
    });
  }

  /** The first instances to end FAILED or TIMEDOUT (at most MAX_FAILURES_TRACKED), for status files. */
  failedInstances(): readonly number[] {
    return this.#parts?.machine.failedInstances ?? [];
  }

  /** How many instances of step `s` are in each state (index = state code). */
  stepCounts(s: number): Int32Array {
    return this.#parts?.machine.stepCounts(s) ?? new Int32Array(STATE_CODES);
  }

  /** Whether every parent of instance `i` finished (a chain's link may be queued before that). */
  parentsDone(i: number): boolean {
    return this.#parts === undefined || this.#parts.machine.tracker.remainingParents(i) === 0;
  }

  /** Why the study stopped itself (a step exited Merlin's HARD_FAIL), if it did. */
  get stoppedBy(): string | undefined {
    return this.#parts?.machine.stoppedBy;
  }
  /** Whether a step asked for the study's workers to stop (Merlin's STOP_WORKERS) since the last call. */
  takeStopWorkers(): boolean {
    return this.#parts?.machine.takeStopWorkers() ?? false;
  }
  /** Hosts quarantined for failing far more than the rest (quarantine.ts), with the evidence. */
  quarantinedHosts(): QuarantineEvidence[] {
    return this.#parts?.machine.health.quarantined() ?? [];
  }
  get state(): StudyStateName {
    return this.#state;
  }
  get limits(): Readonly<ConductorLimits> {
    return this.#parts?.machine.limits ?? DEFAULT_LIMITS;
  }
  get startedMs(): number {
    return this.#startedMs;
  }
  workerName(index: number): string {
    return this.#parts?.machine.workers.name(index) ?? '';
  }

  /**
   * Steps no live worker can run, as JSON `[{step, reason, instances}]` (the fleet watch finds
   * them): stored in the study record with the next commit, for `status` and dashboards.
   */
  reportBlocked(json: string): void {
    this.#changes.setField(F.blocked, json);
  }

  /** Asks the loop to stop after the current batch, leaving the study resumable. */
  stop(): void {
    this.#stopRequested = true;
  }

  /**
   * Tells the conductor its Redis connection came back after an outage. Before the next batch it
   * checks whether Redis kept the study (append-only file) or lost it (then it writes its whole
   * state again), and looks for queued steps that were lost.
   */
  reconnected(): void {
    this.#reconnected = true;
  }

  /** Drives the study until every instance is final (or stop()); returns the study's state. */
  async run(): Promise<StudyStateName> {
    const cpuAtStart = process.cpuUsage();
    await this.#lease.take();
    try {
      const { machine, dispatcher, intake, persistence } = await this.#start();
      let lastRead = 0;
      while (!machine.isDone()) {
        if (this.#stopRequested || this.#budgetSpent(machine, dispatcher)) {
          if (persistence.deferred) await persistence.commit();
          return 'RUNNING';
        }
        if (this.#lease.lost) throw new LeaseLostError();
        const pause = readPauseMs(machine, this.#now(), this.#startedMs) - (this.#now() - lastRead);
        if (pause > 0) await this.#sleep(pause);
        lastRead = this.#now();
        const batch = await intake.readAndApply(persistence.readBlockMs(lastRead));
        // Most batches need none of it: no promise to wait for then, on the hot path.
        if (this.#housekeepingDue(this.#now())) await this.#housekeeping();
        // Control requests (limits, cancel) are written at once: whoever sent them may look.
        await this.#step(batch.events > 0 || batch.controls > 0, batch.controls === 0);
      }
      await this.#end(cpuAtStart);
      return this.#state;
    } finally {
      await this.#lease.release();
    }
  }

  progress(): Progress {
    const m = this.#parts?.machine;
    const counts: Record<string, number> = {};
    m?.counts.forEach((n, code) => {
      if (n > 0) counts[stepStateName(code)] = n;
    });
    const now = this.#now();
    const window = Math.min(FINISH_WINDOW_MS, now - this.#startedMs);
    const ratePerSec = m && window > 0 ? (m.finishRate.count(now) * 1000) / window : 0;
    const left = this.expanded.instanceCount - (m?.finalCount() ?? 0);
    const learned = m && this.#estimate(m, now, window);
    return {
      total: this.expanded.instanceCount,
      counts,
      running: m?.running ?? 0,
      queued: m?.queued ?? 0,
      ratePerSec,
      etaMs: learned ? learned.etaMs : ratePerSec > 0 ? (left / ratePerSec) * 1000 : undefined,
      etaRange: learned ? { lowMs: learned.lowMs, highMs: learned.highMs, measured: learned.measured } : undefined,
      state: this.#state,
      startedMs: this.#startedMs,
    };
  }

  /** Time left from the steps' learned run times (eta.ts), at the concurrency the study gets. */
  #estimate(m: InstanceMachine, now: number, window: number): Estimate | undefined {
    const steps = this.expanded.steps.map((_, s): StepLeft => {
      const c = m.stepCounts(s);
      let waiting = 0;
      c.forEach((n, code) => {
        if (!isFinalState(code) && code !== StepState.RUNNING) waiting += n;
      });
      return { waiting, running: c[StepState.RUNNING]!, runtime: m.timing.summary(s) };
    });
    const implied = window > 0 ? m.finishRate.busyMs(now) / window : 0;
    return estimateLeft(steps, Math.max(m.running, implied));
  }

  /** Why the study stopped short of its end on its own (its node-hour budget), if it did. */
  get budgetStop(): string | undefined {
    return this.#budgetStop;
  }

  /**
   * Whether the node-hour budget keeps every instance left from starting, with none in flight
   * that could end and make room: then the study stops, to be resumed with a larger --budget.
   */
  #budgetSpent(m: InstanceMachine, d: Dispatcher): boolean {
    const blocked = d.budgetBlocked;
    if (blocked === undefined || m.queued + m.running > 0) return false;
    const b = m.budget;
    const need = b.costOf(blocked) / 3_600_000;
    this.#budgetStop =
      `the node-hour budget of ${hours(m.limits.budget ?? 0)} is spent: ${hours(b.spentHours)} used, and ` +
      `${this.expanded.instanceName(blocked)} needs ${hours(need)} more; continue with a larger --budget (maestro resume DIR --budget N)`;
    this.#log.warn({ spentHours: b.spentHours, budget: m.limits.budget }, 'the node-hour budget is spent');
    return true;
  }

  /** Median, p90 and max run time of step `s`'s instances so far. */
  stepRuntime(s: number): RuntimeSummary | undefined {
    return this.#parts?.machine.timing.summary(s);
  }

  // ---- start and resume -------------------------------------------------------------------

  /** Reads or creates the stored study, builds the parts over it, and sends what is ready. */
  async #start(): Promise<Parts> {
    const x = this.expanded;
    const store = this.#o.store;
    const record = await store.readRecord();
    const resuming = record[F.state] !== undefined;
    const cursors: StreamCursors = { events: '0', control: '0' };
    let limits: ConductorLimits;
    if (resuming) {
      this.records.replaceAll(await store.readState(x.instanceCount));
      cursors.events = record[F.cursor] ?? '0';
      cursors.control = record[F.controlCursor] ?? '0';
      this.#startedMs = Number(record[F.startedAt] ?? this.#now());
      const given = this.#o.limits;
      limits = {
        attempts: given.attempts ?? Number(record[F.attempts] ?? 1),
        rlimit: given.rlimit ?? Number(record[F.rlimit] ?? 1),
        throttle: given.throttle ?? Number(record[F.throttle] ?? 0),
        budget: given.budget ?? Number(record[F.budget] ?? 0),
      };
      if (record[F.state] !== 'RUNNING') this.#log.info({ state: record[F.state] }, 'the study had already ended');
    } else {
      this.#startedMs = this.#now();
      this.#lastReconcile = this.#startedMs; // a new study has nothing to reconcile yet
      limits = { ...DEFAULT_LIMITS, ...stripUndefined(this.#o.limits) };
      const created = {
        [F.meta]: JSON.stringify(this.#o.publicMeta),
        [F.state]: 'RUNNING',
        [F.startedAt]: String(this.#startedMs),
        [F.cursor]: '0',
        [F.controlCursor]: '0',
      };
      await store.create(x.instanceCount, created, this.#startedMs);
    }
    const parts = this.#wire(limits, resuming ? record : {}, cursors);
    // A cancel asked of a conductor before this one, carried out or not.
    if (record[F.cancelled] === '1') parts.machine.requestCancel();
    this.#changes.setField(F.state, 'RUNNING');
    this.#changes.setField(F.conductor, store.token.split(':').slice(0, 2).join(':'));
    const m = parts.machine;
    this.#log.info(
      { instances: x.instanceCount, resuming, ready: m.ready.size, inFlight: m.queued + m.running },
      resuming ? 'resuming study' : 'starting study',
    );
    if (resuming && m.queued + m.running > 0) await this.#reconcile();
    await this.#cancelIfAsked();
    await this.#step(true);
    return parts;
  }

  #wire(limits: ConductorLimits, stored: Record<string, string>, cursors: StreamCursors): Parts {
    const o = this.#o;
    const machine = new InstanceMachine(this.expanded, this.records, {
      limits,
      workerNames: stored[F.workerNames],
      stoppedBy: stored[F.stoppedBy],
      merlinRetries: o.merlinRetries,
      quarantine: { settings: o.quarantine, stored: stored[F.quarantine] },
      changes: this.#changes,
      note: (note) => logNote(this.#log, this.expanded, note),
    });
    this.#changes.setField(F.budget, String(limits.budget ?? 0));
    const dispatcher = new Dispatcher(machine, o);
    const intake = new ResultIntake(o.store, machine, this.#log, this.#now, cursors);
    const persistence = new StudyPersistence({
      store: o.store,
      records: this.records,
      changes: this.#changes,
      cursors,
      leaseTtlMs: o.leaseTtlMs,
      wholeRecord: () => this.#wholeRecord(machine),
    });
    this.#parts = { machine, dispatcher, intake, persistence };
    return this.#parts;
  }

  /** Every field of the study record, for writing it again after Redis lost it. */
  #wholeRecord(m: InstanceMachine): { fields: Record<string, string>; createdMs: number } {
    const fields: Record<string, string> = {
      [F.meta]: JSON.stringify(this.#o.publicMeta),
      [F.state]: this.#state,
      [F.startedAt]: String(this.#startedMs),
      [F.attempts]: String(m.limits.attempts),
      [F.rlimit]: String(m.limits.rlimit),
      [F.throttle]: String(m.limits.throttle),
      [F.budget]: String(m.limits.budget ?? 0),
      [F.workerNames]: m.workers.toJSON(),
      [F.quarantine]: m.health.toJSON(),
    };
    if (m.cancelRequested) fields[F.cancelled] = '1';
    if (m.stoppedBy !== undefined) fields[F.stoppedBy] = m.stoppedBy;
    return { fields, createdMs: this.#startedMs };
  }

  // ---- each batch -------------------------------------------------------------------------

  get #p(): Parts {
    if (!this.#parts) throw new Error('the conductor has not started');
    return this.#parts;
  }

  /** Carries out a cancel read from the control stream, or one stored by an earlier conductor. */
  async #cancelIfAsked(): Promise<void> {
    const { machine } = this.#p;
    if (machine.cancelled || !machine.cancelRequested) return;
    if (machine.stoppedBy !== undefined) this.#log.error({ reason: machine.stoppedBy }, 'the study stops');
    else this.#log.info('cancel requested');
    await carryOutCancel({ ...this.#cancelParts(), deadlineMs: this.#now() + this.#o.cancelGraceMs });
  }

  #cancelParts(): CancelParts {
    const { machine, intake, persistence, dispatcher } = this.#p;
    const { studyId, store, queues } = this.#o;
    return {
      studyId,
      machine,
      intake,
      persistence,
      store,
      queues,
      log: this.#log,
      jobRef: (i) => dispatcher.jobRef(i),
    };
  }

  /** Sends what is ready, then commits (or puts the commit off, see COMMIT_DELAY_MS). */
  async #step(changed: boolean, mayDefer = false): Promise<void> {
    const { dispatcher, persistence } = this.#p;
    const jobs = dispatcher.next(this.#now());
    const progress = this.progress();
    const due = changed || jobs.length > 0 || this.#changes.pending;
    const enqueue = jobs.length > 0 ? () => this.#o.queues.add(jobs) : undefined;
    if (due && mayDefer && dispatcher.allAlwaysAlone(jobs) && persistence.defer(this.#now())) {
      await enqueue?.();
    } else if (due) {
      this.#changes.setField(F.counts, JSON.stringify(progress.counts));
      await persistence.commit(enqueue);
      this.#o.onChange?.(this);
    }
    this.#o.onProgress?.(progress);
  }

  /** Whether the loop has more to do after a batch than to send and commit (see #housekeeping). */
  #housekeepingDue(now: number): boolean {
    const { machine, persistence } = this.#p;
    return machine.cancelRequested || this.#reconnected || persistence.trimDue(now) || this.#reconcileDue(now);
  }

  /** Every RECONCILE_EVERY_MS while steps are in flight, and when jobs found missing are due a second look. */
  #reconcileDue(now: number): boolean {
    const { machine } = this.#p;
    return (
      (now - this.#lastReconcile > RECONCILE_EVERY_MS && machine.queued + machine.running > 0) ||
      (this.#recheckAt !== undefined && now >= this.#recheckAt)
    );
  }

  /**
   * What follows the application of a batch when due: a cancel read with it and the cancel's
   * deadline; after an outage, the check that Redis kept the study; trims; reconciliation.
   */
  async #housekeeping(): Promise<void> {
    const { machine, persistence } = this.#p;
    await this.#cancelIfAsked();
    if (machine.cancelled) await expireCancel(this.#cancelParts(), this.#now());
    const now = this.#now();
    if (this.#reconnected) {
      this.#reconnected = false;
      // Redis may have lost the lease with its data: take it back before writing anything.
      if (!(await this.#lease.renewNow())) throw new LeaseLostError();
      await this.#restoreAfterOutage();
      await this.#reconcile();
    }
    if (persistence.trimDue(now)) await persistence.trim(now);
    if (this.#reconcileDue(now)) await this.#reconcile();
    // Reconciliation may have read a cancel (it drains the streams).
    await this.#cancelIfAsked();
  }

  /**
   * Redis came back: maybe the same server, maybe a replica promoted in its place (a failover) or
   * a server restarted from its file, either of which may lack the newest writes acknowledged
   * before (replication is asynchronous). This conductor's state is the truth: it is written
   * whole again, so that the fence refuses claims of instances it knows final (a job whose
   * completion was lost comes back), and the cursors go back to what the server has.
   */
  async #restoreAfterOutage(): Promise<void> {
    const { persistence, intake } = this.#p;
    const kept = await this.#o.store.exists();
    const rewound = intake.rewind(await this.#o.store.lastStreamIds());
    this.#log.warn(
      { kept, rewound },
      kept
        ? 'writing the whole state again after the outage (Redis may be another server now, without the newest writes)'
        : 'Redis came back without the study (it lost its data); writing the whole state again',
    );
    persistence.rewriteAll();
    await persistence.commit();
  }

  async #reconcile(): Promise<void> {
    const { machine, intake, dispatcher } = this.#p;
    this.#lastReconcile = this.#now();
    const found = await reconcile(machine, this.#o.queues, intake, (i) => dispatcher.jobRef(i));
    const { apply: outcomes, newlyMissing, recheckAt } = this.#missing.settle(found, this.#now());
    this.#recheckAt = recheckAt;
    if (newlyMissing > 0) {
      this.#log.warn(
        { missing: newlyMissing, graceMs: this.#o.lostGraceMs ?? LOST_GRACE_MS },
        'queued steps are missing from Redis; they run again unless their workers report first (a worker may still be running them)',
      );
    }
    applyReconciled(machine, outcomes, this.#now());
    const stalled = outcomes.filter((o) => o.kind === 'stalled').length;
    if (stalled > 0) {
      this.#log.warn(
        { stalled },
        'BullMQ gave up on jobs whose workers lost their locks too often (an overloaded node: event loops stalled ' +
          'past the lock); their steps run again as new attempts, not counted as failed tries',
      );
    }
    if (outcomes.length > stalled) {
      this.#log.warn(
        { lost: outcomes.length - stalled },
        'queued steps were lost or rejected without a result; running them again',
      );
    }
  }

  // ---- completion ---------------------------------------------------------------------------

  /** Writes the study's end, and removes what it left in the queues. */
  async #end(cpuAtStart: NodeJS.CpuUsage): Promise<void> {
    const { machine, persistence } = this.#p;
    this.#state = machine.finalState();
    this.#changes.setField(F.state, this.#state);
    this.#changes.setField(F.endedAt, String(this.#now()));
    // The last batch's results may have been committed without the counts (a deferred commit).
    this.#changes.setField(F.counts, JSON.stringify(this.progress().counts));
    // What this conductor cost, for `maestro status` and the benchmarks.
    const cpu = process.cpuUsage(cpuAtStart);
    this.#changes.setField(F.conductorCpuMs, String(Math.round((cpu.user + cpu.system) / 1000)));
    this.#changes.setField(F.conductorPeakRssMB, String(Math.round(process.resourceUsage().maxRSS / 1024)));
    await persistence.commit();
    // Failed jobs are kept for reconciliation while the study runs (StepQueues' JOB_OPTIONS).
    await this.#o.queues
      .removeFailed(this.#o.studyId, queueNamesOf(this.expanded))
      .catch((err: unknown) => this.#log.warn({ err }, 'could not remove the failed jobs of the study'));
    this.#o.onChange?.(this);
    this.#o.onProgress?.(this.progress());
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Node-hours as messages give them: 2 decimals, or 3 significant digits below 1. */
function hours(h: number): string {
  return String(h < 1 ? Number(h.toPrecision(3)) : Math.round(h * 100) / 100);
}
