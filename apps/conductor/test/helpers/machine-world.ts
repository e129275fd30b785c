/**
 * A model of everything around the conductor's parts, in memory, for property tests: BullMQ's
 * queue (waiting, active and failed jobs; re-adding a job that exists is a no-op), the fence
 * scripts (claims and reports, decided as libs/protocol fence-scripts.ts decides them), the
 * events and control streams, the committed state, and workers that claim, run, report, die,
 * lose their job or lose its lock too often (BullMQ fails it as stalled).
 *
 * The conductor's side is the real code: the state machine, dispatch, result intake,
 * persistence, reconciliation and cancel, over an in-memory study store and queue, driven in
 * the order conductor.ts drives them. Its conductor can crash at any point and resume from what
 * it committed.
 *
 * It records what really happened (which runs' successes the fence accepted, which claims found
 * a parent unfinished) for the tests to compare with what the conductor concluded.
 */
import {
  bundleMembers,
  isFinalState,
  StudyRecordField as F,
  type ControlRequest,
  type Outcome,
  type StepEvent,
  type StepJob,
} from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import { pino } from 'pino';
import { carryOutCancel, expireCancel, type CancelParts } from '../../src/conductor/cancel.js';
import { Dispatcher, type BundlePolicy, type JobRef } from '../../src/conductor/dispatch.js';
import { InstanceMachine, type ConductorLimits } from '../../src/conductor/instance-machine.js';
import { InstanceRecords } from '../../src/conductor/instance-records.js';
import { ResultIntake } from '../../src/conductor/intake.js';
import { StudyPersistence } from '../../src/conductor/persistence.js';
import { applyReconciled, reconcile } from '../../src/conductor/reconcile.js';
import type { QueuedJob, StepJobPresence } from '../../src/queue/index.js';
import type { Commit, ReadBatch } from '../../src/redis/study-store.js';

/** Runs of one attempt after which the fence fails it (DEFAULT_MAX_RUNS_PER_ATTEMPT). */
const MAX_RUNS = 5;
const log = pino({ level: 'silent' });

interface FenceEntry {
  attempt: number;
  run: number;
  done: boolean;
}

/** A job a worker holds: its members, the one it is at, and that member's claimed run. */
interface ActiveJob {
  readonly job: QueuedJob;
  readonly members: StepJob[];
  readonly announce: boolean;
  k: number;
  run: number | undefined;
}

export interface WorldOptions {
  readonly limits: ConductorLimits;
  readonly window: number;
  readonly bundle?: BundlePolicy | undefined;
  readonly cancelGraceMs: number;
}

/** The conductor's parts over the world's store and queue. */
interface ConductorParts {
  readonly machine: InstanceMachine;
  readonly dispatcher: Dispatcher;
  readonly intake: ResultIntake;
  readonly persistence: StudyPersistence;
  readonly cancel: CancelParts;
}

export class MachineWorld {
  now = 1_000_000;
  readonly x: ExpandedStudy;
  readonly o: WorldOptions;
  // BullMQ
  readonly waiting: QueuedJob[] = [];
  readonly active: ActiveJob[] = [];
  /** Every job BullMQ holds (waiting, active or failed), by `queue/id`. */
  readonly jobs = new Set<string>();
  readonly failedJobs = new Set<string>();
  /** Failed jobs that BullMQ failed as stalled (a subset of failedJobs). */
  readonly stalledJobs = new Set<string>();
  // maestro's keys
  readonly fence = new Map<number, FenceEntry>();
  readonly events: StepEvent[] = [];
  readonly controls: ControlRequest[] = [];
  readonly committed: { bytes: Uint8Array; fields: Record<string, string> };
  /** Entries a read returns at most per stream (the conductor's READ_COUNT, made small). */
  readCap = Infinity;
  /**
   * Worker actions that happen while the conductor waits for Redis: each runs at the conductor's
   * `calls`-th call to the store or the queue from now (1: the next), before the call takes effect.
   */
  readonly racing: { calls: number; act: () => void }[] = [];
  c!: ConductorParts;
  // what really happened
  /** Instances whose success the fence accepted (a step that wrote its files and said so). */
  readonly succeeded = new Set<number>();
  readonly violations: string[] = [];
  /**
   * Per instance, the failures that could count as tries: failed or rejected results the fence
   * accepted (its own 'crashed' one too) and rejections of a job holding it. A lock lost is none.
   */
  readonly failures: Int32Array;
  cancelAsked = false;
  /** Parents (real instances, through funnel hubs) of each instance. */
  readonly parents: number[][];

  private constructor(x: ExpandedStudy, options: WorldOptions) {
    this.x = x;
    this.o = options;
    this.committed = { bytes: new Uint8Array(InstanceRecords.empty(x.instanceCount).bytes), fields: {} };
    const graph = new InstanceMachine(x, InstanceRecords.empty(x.instanceCount), { limits: options.limits }).graph;
    const walk = (node: number, out: Set<number>): Set<number> => {
      // A funnel's hub stands for every instance of the funnelled step.
      for (const p of graph.parents(node))
        if (p < x.instanceCount) out.add(p);
        else walk(p, out);
      return out;
    };
    this.parents = Array.from({ length: x.instanceCount }, (_, i) => [...walk(i, new Set())]);
    this.failures = new Int32Array(x.instanceCount);
  }

  static async start(x: ExpandedStudy, options: WorldOptions): Promise<MachineWorld> {
    const w = new MachineWorld(x, options);
    await w.#startConductor();
    return w;
  }

  get m(): InstanceMachine {
    return this.c.machine;
  }

  // ---- the conductor, as conductor.ts wires and drives it ----------------------------------

  async #startConductor(): Promise<void> {
    const records = InstanceRecords.empty(this.x.instanceCount);
    records.replaceAll(this.committed.bytes);
    const f = this.committed.fields;
    const machine = new InstanceMachine(this.x, records, { limits: this.o.limits, workerNames: f[F.workerNames] });
    const dispatcher = new Dispatcher(machine, {
      prefix: 'p',
      studyId: 's',
      window: this.o.window,
      bundle: this.o.bundle,
    });
    const cursors = { events: f[F.cursor] ?? '0', control: f[F.controlCursor] ?? '0' };
    const intake = new ResultIntake(this.#store, machine, log, () => this.now, cursors);
    const persistence = new StudyPersistence({
      store: this.#store,
      records,
      changes: machine.changes,
      cursors,
      leaseTtlMs: 1000,
      wholeRecord: () => ({ fields: {}, createdMs: 0 }),
    });
    const jobRef = (i: number): JobRef => dispatcher.jobRef(i);
    const cancel = {
      studyId: 's',
      machine,
      intake,
      persistence,
      store: this.#store,
      queues: this.#queues,
      jobRef,
      log,
    };
    this.c = { machine, dispatcher, intake, persistence, cancel };
    if (f[F.cancelled] === '1') machine.requestCancel();
    if (machine.queued + machine.running > 0) await this.reconcile();
    await this.#cancelIfAsked();
    await this.step(false);
  }

  /** The conductor dies; another resumes from what was committed. */
  async crash(): Promise<void> {
    await this.#startConductor();
  }

  /** One read (at most `cap` entries per stream), then what follows it in the loop. */
  async read(cap = Infinity): Promise<void> {
    this.readCap = cap;
    try {
      await this.c.intake.readAndApply(undefined);
    } finally {
      this.readCap = Infinity;
    }
    await this.#cancelIfAsked();
    if (this.m.cancelled) await expireCancel(this.c.cancel, this.now);
  }

  async #cancelIfAsked(): Promise<void> {
    const { machine } = this.c;
    if (machine.cancelled || !machine.cancelRequested) return;
    await carryOutCancel({ ...this.c.cancel, deadlineMs: this.now + this.o.cancelGraceMs });
  }

  /** Dispatch, then commit and enqueue, or (`defer`, jobs that always go alone) enqueue only. */
  async step(defer: boolean): Promise<void> {
    const { dispatcher, persistence } = this.c;
    const jobs = dispatcher.next(this.now);
    if (jobs.length > 0 && this.committed.fields[F.cancelled] === '1')
      this.violations.push('jobs sent after the cancel was written');
    if (!(defer && dispatcher.allAlwaysAlone(jobs))) await persistence.commit();
    this.#add(jobs);
  }

  async reconcile(): Promise<void> {
    const outcomes = await reconcile(this.m, this.#queues, this.c.intake, this.c.cancel.jobRef);
    applyReconciled(this.m, outcomes, this.now);
  }

  /** `maestro cancel`. */
  requestCancel(): void {
    this.controls.push({ type: 'cancel' });
    this.cancelAsked = true;
  }

  tick(ms: number): void {
    this.now += ms;
  }

  // ---- the study store and the queue, in memory --------------------------------------------

  readonly #store = {
    read: async (eventCursor: string, controlCursor: string, _block: number | undefined, count: number) => {
      this.#race();
      const take = Math.min(count, this.readCap);
      const from = (cursor: string): number => Number(cursor.split('-')[0]);
      const e0 = from(eventCursor);
      const c0 = from(controlCursor);
      const events = this.events.slice(e0, e0 + take).map((event, k) => ({ id: `${e0 + k + 1}-0`, event }));
      const controls = this.controls.slice(c0, c0 + take).map((request, k) => ({ id: `${c0 + k + 1}-0`, request }));
      const batch: ReadBatch = {
        events,
        controls,
        invalid: [],
        lastEventId: events.at(-1)?.id,
        lastControlId: controls.at(-1)?.id,
      };
      return Promise.resolve(batch);
    },
    commit: async (c: Commit) => {
      this.#race();
      for (const [offset, bytes] of c.ranges) this.committed.bytes.set(bytes, offset);
      Object.assign(this.committed.fields, c.fields);
      for (const i of c.fenceDeletes) this.fence.delete(i);
      return Promise.resolve();
    },
    register: async () => Promise.resolve(),
    trim: async () => Promise.resolve(),
    signalWorkers: async () => Promise.resolve(this.#race()),
    claimedAttempts: async () => {
      this.#race();
      return Promise.resolve(new Map([...this.fence].map(([i, f]) => [i, f.attempt])));
    },
  };

  #race(): void {
    for (const r of [...this.racing]) {
      if (--r.calls > 0) continue;
      this.racing.splice(this.racing.indexOf(r), 1);
      r.act();
    }
  }

  readonly #queues = {
    jobStates: async (refs: readonly JobRef[]) => {
      this.#race();
      const presence = refs.map((ref): StepJobPresence => {
        const key = keyOf(ref);
        if (!this.jobs.has(key)) return 'missing';
        if (!this.failedJobs.has(key)) return 'present';
        return this.stalledJobs.has(key) ? 'stalled' : 'failed';
      });
      return Promise.resolve(presence);
    },
    removeQueued: async (refs: readonly JobRef[]) => {
      this.#race();
      let left = 0;
      for (const ref of refs) {
        const key = keyOf(ref);
        if (this.active.some((a) => keyOf(a.job) === key)) {
          left++; // locked by its worker
          continue;
        }
        const at = this.waiting.findIndex((j) => keyOf(j) === key);
        if (at >= 0) this.waiting.splice(at, 1);
        this.jobs.delete(key);
        this.failedJobs.delete(key);
        this.stalledJobs.delete(key);
      }
      return Promise.resolve(left);
    },
  };

  #add(jobs: readonly QueuedJob[]): void {
    for (const job of jobs) {
      if (this.jobs.has(keyOf(job))) continue; // BullMQ keeps the job of that id as it is
      this.jobs.add(keyOf(job));
      this.waiting.push(job);
    }
  }

  // ---- workers ------------------------------------------------------------------------------

  /** A worker takes waiting job `k` (modulo) and claims the first member it may run. */
  take(k: number, announce: boolean): void {
    if (this.waiting.length === 0) return;
    const [job] = this.waiting.splice(k % this.waiting.length, 1);
    const a: ActiveJob = { job: job!, members: bundleMembers(job!.data), announce, k: 0, run: undefined };
    this.active.push(a);
    this.#claimFrom(a);
  }

  /** The worker of active job `k` (modulo) reports its member's `outcome` and goes on with the job. */
  report(k: number, outcome: Outcome): void {
    if (this.active.length === 0) return;
    const a = this.active[k % this.active.length]!;
    const member = a.members[a.k]!;
    this.#report(member, a.run!, outcome, 4242);
    if (a.job.data.chain && outcome !== 'succeeded') {
      this.#handBack(a, a.k + 1);
      return;
    }
    a.k++;
    this.#claimFrom(a);
  }

  /** The worker of active job `k` dies: its job goes back to the queue (stalled), or is lost with Redis data. */
  die(k: number, lost: boolean): void {
    if (this.active.length === 0) return;
    const [a] = this.active.splice(k % this.active.length, 1);
    if (lost) this.jobs.delete(keyOf(a!.job));
    else this.waiting.push(a!.job);
  }

  /**
   * The worker of active job `k` (modulo) loses its lock more often than BullMQ allows (its event
   * loop stalls): it kills its step unreported, and BullMQ fails the job as stalled.
   */
  stallOut(k: number): void {
    if (this.active.length === 0) return;
    const [a] = this.active.splice(k % this.active.length, 1);
    this.failedJobs.add(keyOf(a!.job));
    this.stalledJobs.add(keyOf(a!.job));
  }

  /** A worker rejects waiting job `k` (modulo) without a report: it fails in the queue. */
  reject(k: number): void {
    if (this.waiting.length === 0) return;
    const [job] = this.waiting.splice(k % this.waiting.length, 1);
    this.failedJobs.add(keyOf(job!));
    for (const member of bundleMembers(job!.data)) this.failures[member.index]!++;
  }

  #claimFrom(a: ActiveJob): void {
    while (a.k < a.members.length) {
      const run = this.#claim(a.members[a.k]!, a.announce, true);
      if (run !== undefined) {
        a.run = run;
        return;
      }
      if (a.job.data.chain) return this.#handBack(a, a.k + 1);
      a.k++;
    }
    this.#complete(a);
  }

  /** The members of a chain from `from` on go back unstarted (interrupted, pid 0). */
  #handBack(a: ActiveJob, from: number): void {
    for (const member of a.members.slice(from)) {
      const run = this.#claim(member, false, false);
      if (run !== undefined) this.#report(member, run, 'interrupted', 0);
    }
    this.#complete(a);
  }

  #complete(a: ActiveJob): void {
    this.active.splice(this.active.indexOf(a), 1);
    this.jobs.delete(keyOf(a.job)); // removeOnComplete
  }

  /** CLAIM_RUN: the run number, or undefined when refused. `toRun`: not a claim to hand it back. */
  #claim(member: StepJob, announce: boolean, toRun: boolean): number | undefined {
    const i = member.index;
    if (this.committed.fields[F.cancelled] === '1') return undefined;
    if (isFinalState(new InstanceRecords(this.committed.bytes, this.x.instanceCount).state(i))) return undefined;
    const f = this.fence.get(i);
    if (f && f.attempt > member.attempt) return undefined;
    if (f && f.attempt === member.attempt && f.done) return undefined;
    const run = f && f.attempt === member.attempt ? f.run + 1 : 1;
    const startMs = this.now;
    if (run > MAX_RUNS) {
      this.fence.set(i, { attempt: member.attempt, run, done: true });
      this.events.push(resultEvent(member, run, 'failed', 0, startMs, startMs));
      this.failures[i]!++;
      return undefined;
    }
    this.fence.set(i, { attempt: member.attempt, run, done: false });
    if (toRun) {
      for (const p of this.parents[i]!) {
        if (!this.succeeded.has(p)) this.violations.push(`${i} claimed to run before its parent ${p} succeeded`);
      }
      // The conductor ends an instance only once no worker can start it any more.
      if (isFinalState(this.m.records.state(i))) this.violations.push(`${i} claimed to run after it ended`);
    }
    if (announce) {
      const { index, attempt } = member;
      this.events.push({ type: 'started', index, attempt, run, worker: 'w', host: 'h', pid: 4242, startMs });
    }
    return run;
  }

  /** REPORT_RESULT: only the newest run of the newest attempt, once. */
  #report(member: StepJob, run: number, outcome: Outcome, pid: number): void {
    const f = this.fence.get(member.index);
    if (!f || f.attempt !== member.attempt || f.run !== run || f.done) return;
    f.done = true;
    this.events.push(resultEvent(member, run, outcome, pid, this.now - 10, this.now));
    if (outcome === 'succeeded') this.succeeded.add(member.index);
    if (outcome === 'failed' || outcome === 'rejected') this.failures[member.index]!++;
  }
}

function keyOf(job: { queue: string; id: string }): string {
  return `${job.queue}/${job.id}`;
}

function resultEvent(
  member: StepJob,
  run: number,
  outcome: Outcome,
  pid: number,
  startMs: number,
  endMs: number,
): StepEvent {
  return {
    type: 'result',
    index: member.index,
    attempt: member.attempt,
    run,
    worker: 'w',
    host: 'h',
    outcome,
    exitCode: outcome === 'succeeded' ? 0 : outcome === 'failed' ? 1 : null,
    signal: null,
    pid,
    startMs,
    endMs,
  };
}
