/**
 * The conductor: the only writer of a study's state. It enqueues each ready instance once,
 * applies the results workers report (retries, restarts after timeouts, failures that fail the
 * whole subtree, as Maestro does), and keeps its state in Redis so that another conductor can
 * pick the study up after a crash.
 *
 * One loop, no polling: block on the study's events and control streams, apply a batch, commit
 * it (one Lua call, fenced by the lease), then enqueue what became ready (sent behind the commit
 * on the same connection). A crash between the commit and the enqueue leaves PENDING instances
 * without a job: reconcile() finds them.
 */
import {
  isFinalState,
  MAX_BUNDLE_MEMBERS,
  STATE_FLAG_RESTART,
  STATE_RECORD_BYTES,
  StepState,
  stepStateName,
  StudyRecordField as F,
  type ControlRequest,
  type StepEvent,
  type StepResult,
  type StudyStateName,
} from '@maestro/protocol';
import { ReadinessTracker, type Graph } from '@maestro/dag';
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import type { QueuedJob, StepQueues } from '../queue/index.js';
import { LeaseLostError, type StudyStore } from '../redis/index.js';
import { FINISH_WINDOW_MS, FinishRate } from './finish-rate.js';
import { buildInstanceGraph } from './instance-graph.js';
import { InstanceRecords } from './instance-records.js';
import { buildStepJob, bundleJob, chainJob, fitsBundle, queueNamesOf } from './step-jobs.js';

export interface ConductorLimits {
  /** Runs of a failing command before it counts as FAILED (`-a`). @default 1 */
  attempts: number;
  /** Restart-command runs after timeouts; 0 = unlimited (`-r`). @default 1 */
  rlimit: number;
  /** Instances queued or running at once; 0 = unlimited (`-t`). @default 0 */
  throttle: number;
}

/**
 * Bundles: instances of one step that take a few milliseconds cost more in the queue (a BullMQ
 * job, its lock, a fetch) than in their own run, so several ready ones go to a worker as one
 * job, which runs them one after the other in one slot. Only steps whose instances were seen to
 * be short are bundled, and only so many that a bundle takes about `targetMs`: what it can hold
 * back from idle workers is bounded by that, whatever the study's size. A throttled study is
 * never bundled (its limit counts instances in flight).
 */
export interface BundlePolicy {
  /** Most instances in one job; 1 sends every instance alone. @default 16 */
  maxSize: number;
  /** Time a bundle should take, from the step's mean run time so far. @default 200 */
  targetMs: number;
}

export interface ConductorOptions {
  readonly expanded: ExpandedStudy;
  readonly studyId: string;
  readonly prefix: string;
  readonly store: StudyStore;
  readonly queues: StepQueues;
  readonly log: Logger;
  /** Limits given on the command line; on resume, missing ones come from the stored study. */
  readonly limits: Partial<ConductorLimits>;
  /** Most instances waiting in Redis at once (`--window`). */
  readonly window: number;
  /** How short instances are bundled; undefined sends every instance alone. */
  readonly bundle?: BundlePolicy | undefined;
  /** After a cancel, how long running steps get to report before they are marked CANCELLED. */
  readonly cancelGraceMs: number;
  readonly leaseTtlMs: number;
  /** Public description stored in the study hash (name, root, ...): no credentials. */
  readonly publicMeta: Record<string, unknown>;
  /** Called after every applied batch, for progress bars and status files. */
  readonly onProgress?: ((p: Progress) => void) | undefined;
  /** Called after a batch changed instances, with the conductor, to mirror state to files. */
  readonly onChange?: ((c: Conductor) => void) | undefined;
  readonly now?: () => number;
}

export interface Progress {
  readonly total: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly running: number;
  readonly queued: number;
  /** Instances finished per second, over the last minute. */
  readonly ratePerSec: number;
  /** Estimated time left, if there is a rate. */
  readonly etaMs: number | undefined;
  readonly state: StudyStateName;
  readonly startedMs: number;
}

const READ_BLOCK_MS = 1000;
/**
 * A batch waits for the next commit, this long at most, unless it holds a control request or
 * enqueues a job that could be bundled: a study of many steps commits a few times a second
 * instead of at every read, and a chain of single steps a few times a second instead of at every
 * link. The committed cursor stays behind those events meanwhile, so a conductor that dies reads
 * them again and comes to the same state, enqueuing the same jobs again (the same ids: no-ops)
 * and taking the results of those that ran as its own (#adopt). A job of a step with several
 * instances is committed before it exists: replayed later, its instances could be bundled
 * otherwise, and one attempt would travel in two jobs.
 */
const COMMIT_DELAY_MS = 250;
/** Failed instances remembered by index for the status files (the counts cover the rest). */
export const MAX_FAILURES_TRACKED = 1000;
/**
 * While plenty of steps wait in the queue (twice as many as run, twice as many as finish in
 * COALESCE_READS_MS, and at least COALESCE_MIN_WAITING), results are read at most every
 * COALESCE_READS_MS: no worker waits for the conductor then, and reading results in batches
 * instead of one by one cut the conductor's CPU on 10k no-op steps by half at 20 ms, by another
 * seventh at 50 ms. Otherwise (a fan-in, a throttled study, a step whose children are sent when
 * it ends) results are read as they come, so a child starts the moment its parent ends.
 */
const COALESCE_READS_MS = 50;
const COALESCE_MIN_WAITING = 16;
/**
 * While no result can let anything be sent (every instance in flight has no child, or only the
 * one riding after it in its chain, and nothing ready waits for room), results are read at most
 * every IDLE_READS_MS: no worker waits for them. Only a retry, a cancel or an update waits this
 * long. A chain of 1,000 no-op steps (one job) cost the conductor 40% less CPU than at 50 ms.
 */
const IDLE_READS_MS = 250;
const READ_COUNT = 5000;
const RECONCILE_EVERY_MS = 30_000;
const TRIM_EVERY_MS = 5_000;
/**
 * A step not timed yet sends this many instances alone, and holds the rest until MIN_TIMED runs
 * have ended (then their mean sizes the bundles) or PROBE_WAIT_MS has passed (then it is slow
 * to end, and every instance goes alone).
 */
const PROBE_INSTANCES = 32;
const MIN_TIMED = 4;
const PROBE_WAIT_MS = 1000;
/** The mean run time follows about the last this many runs (a sweep's later instances may be slower). */
const TIMING_MEMORY = 32;
/** A bundle holds at most this fraction of the instances waiting to be sent (1 / TAIL_SPREAD). */
const TAIL_SPREAD = 32;
/** A bundle still running after this many times its target hands the rest back (StepJob.bundleBudgetMs). */
const BUNDLE_BUDGET_FACTOR = 5;
/** Script and workspace text one chain job carries at most (its members are in the job's data). */
const CHAIN_MAX_BYTES = 512 * 1024;

export class Conductor {
  readonly expanded: ExpandedStudy;
  readonly records: InstanceRecords;
  readonly #o: ConductorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #tracker!: ReadinessTracker;
  #graph!: Graph;
  readonly #ready: number[] = [];
  #readyHead = 0;
  readonly #counts = new Int32Array(16);
  readonly #failed: number[] = [];
  /** Instances per state, per step: step s at [s * 16 + state]. */
  readonly #stepCounts: Int32Array;
  /** Per step: runs timed, their mean run time (ms), and when its first instance was sent alone. */
  readonly #timed: Uint32Array;
  readonly #meanRunMs: Float64Array;
  readonly #probeFrom: Float64Array;
  #queued = 0;
  #running = 0;
  /** Per instance: 1 while it is in flight and its end could let the conductor send something. */
  readonly #awaited: Uint8Array;
  #awaitedCount = 0;
  readonly #dirty: Uint8Array;
  #dirtyList: number[] = [];
  #fenceDeletes: number[] = [];
  #fields: Record<string, string> = {};
  #cursor = '0';
  #controlCursor = '0';
  /** The cursors of the last commit: streams are trimmed to them, never past what is written. */
  #committedCursor = '0';
  #committedControlCursor = '0';
  /** When the first change still waiting for a commit was deferred (0: none). */
  #deferredSince = 0;
  readonly #workerNames: string[] = [''];
  readonly #workerIndex = new Map<string, number>();
  #limits: ConductorLimits = { attempts: 1, rlimit: 1, throttle: 0 };
  #cancelled = false;
  #cancelDeadline = 0;
  #state: StudyStateName = 'RUNNING';
  #startedMs = 0;
  #stopRequested = false;
  readonly #finishRate = new FinishRate();
  #leaseTimer: NodeJS.Timeout | undefined;
  #leaseLost = false;
  #lastReconcile = 0;
  #lastTrim = 0;
  #redisRestarted = false;
  #reconnected = false;

  constructor(options: ConductorOptions) {
    this.#o = options;
    this.expanded = options.expanded;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.records = InstanceRecords.empty(options.expanded.instanceCount);
    this.#dirty = new Uint8Array(options.expanded.instanceCount);
    this.#awaited = new Uint8Array(options.expanded.instanceCount);
    this.#stepCounts = new Int32Array(options.expanded.steps.length * 16);
    this.#timed = new Uint32Array(options.expanded.steps.length);
    this.#meanRunMs = new Float64Array(options.expanded.steps.length);
    this.#probeFrom = new Float64Array(options.expanded.steps.length);
  }

  /** The first instances to end FAILED or TIMEDOUT (at most MAX_FAILURES_TRACKED), for status files. */
  failedInstances(): readonly number[] {
    return this.#failed;
  }

  /** How many instances of step `s` are in each state (index = state code). */
  stepCounts(s: number): Int32Array {
    return this.#stepCounts.subarray(s * 16, s * 16 + 16);
  }

  /** Whether every parent of instance `i` finished (a chain's link may be queued before that). */
  parentsDone(i: number): boolean {
    const tracker = this.#tracker as ReadinessTracker | undefined; // set by run()
    return tracker === undefined || tracker.remainingParents(i) === 0;
  }

  get state(): StudyStateName {
    return this.#state;
  }
  get limits(): Readonly<ConductorLimits> {
    return this.#limits;
  }
  get startedMs(): number {
    return this.#startedMs;
  }
  workerName(index: number): string {
    return this.#workerNames[index] ?? '';
  }

  /**
   * Steps no live worker can run, as JSON `[{step, reason, instances}]` (the fleet watch finds
   * them): stored in the study record with the next commit, for `status` and dashboards.
   */
  reportBlocked(json: string): void {
    this.#fields[F.blocked] = json;
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
    await this.#takeLease();
    try {
      await this.#start();
      let lastRead = 0;
      while (!this.#isDone()) {
        if (this.#stopRequested) {
          if (this.#deferredSince) await this.#commit();
          return 'RUNNING';
        }
        if (this.#leaseLost) throw new LeaseLostError();
        const pause = this.#readPause() - (Date.now() - lastRead);
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
        lastRead = Date.now();
        const blockMs = this.#deferredSince
          ? Math.max(1, this.#deferredSince + COMMIT_DELAY_MS - Date.now())
          : READ_BLOCK_MS;
        const batch = await this.#o.store.read(this.#cursor, this.#controlCursor, blockMs, READ_COUNT);
        this.#log.debug({ events: batch.events.length, controls: batch.controls.length }, 'read batch');
        for (const bad of batch.invalid) {
          this.#log.error(
            { stream: bad.stream, entryId: bad.id, err: bad.error },
            'ignored an unreadable stream entry',
          );
        }
        for (const { request } of batch.controls) await this.#applyControl(request);
        for (const { event } of batch.events) this.#applyEvent(event);
        if (batch.lastEventId) this.#cursor = batch.lastEventId;
        if (batch.lastControlId) this.#controlCursor = batch.lastControlId;
        if (this.#cancelled && this.#cancelDeadline && this.#now() > this.#cancelDeadline) this.#abandonRunning();
        // Housekeeping may apply events too (reconcile drains the stream): dispatch after it.
        await this.#housekeeping();
        // Control requests (limits, cancel) are written at once: whoever sent them may look.
        await this.#step(batch.events.length > 0 || batch.controls.length > 0, batch.controls.length === 0);
      }
      this.#state = this.#finalState();
      this.#fields[F.state] = this.#state;
      this.#fields[F.endedAt] = String(this.#now());
      // What this conductor cost, for `maestro status` and the benchmarks.
      const cpu = process.cpuUsage(cpuAtStart);
      this.#fields[F.conductorCpuMs] = String(Math.round((cpu.user + cpu.system) / 1000));
      this.#fields[F.conductorPeakRssMB] = String(Math.round(process.resourceUsage().maxRSS / 1024));
      await this.#commit();
      // Failed jobs are kept for reconciliation while the study runs (StepQueues' JOB_OPTIONS).
      await this.#o.queues
        .removeFailed(this.#o.studyId, queueNamesOf(this.expanded))
        .catch((err: unknown) => this.#log.warn({ err }, 'could not remove the failed jobs of the study'));
      this.#o.onChange?.(this);
      this.#o.onProgress?.(this.progress());
      return this.#state;
    } finally {
      clearInterval(this.#leaseTimer);
      if (!this.#leaseLost) await this.#o.store.releaseLease().catch(() => undefined);
    }
  }

  /** How long after the last read results may wait to be read (see COALESCE_READS_MS, IDLE_READS_MS). */
  #readPause(): number {
    if (this.#awaitedCount === 0 && this.#readyHead >= this.#ready.length) return IDLE_READS_MS;
    return this.#queued >= this.#plentyWaiting() ? COALESCE_READS_MS : 0;
  }

  /** Queued steps enough for workers never to run dry while results wait to be read. */
  #plentyWaiting(): number {
    const window = Math.max(1, Math.min(FINISH_WINDOW_MS, this.#now() - this.#startedMs));
    const finishingPerRead = (this.#finishRate.count(this.#now()) / window) * COALESCE_READS_MS;
    return Math.max(COALESCE_MIN_WAITING, 2 * this.#running, 2 * finishingPerRead);
  }

  progress(): Progress {
    const counts: Record<string, number> = {};
    this.#counts.forEach((n, code) => {
      if (n > 0) counts[stepStateName(code)] = n;
    });
    const now = this.#now();
    const window = Math.min(FINISH_WINDOW_MS, now - this.#startedMs);
    const ratePerSec = window > 0 ? (this.#finishRate.count(now) * 1000) / window : 0;
    const left = this.expanded.instanceCount - this.#finalCount();
    return {
      total: this.expanded.instanceCount,
      counts,
      running: this.#running,
      queued: this.#queued,
      ratePerSec,
      etaMs: ratePerSec > 0 ? (left / ratePerSec) * 1000 : undefined,
      state: this.#state,
      startedMs: this.#startedMs,
    };
  }

  // ---- start and resume -------------------------------------------------------------------

  async #takeLease(): Promise<void> {
    const store = this.#o.store;
    const ttl = this.#o.leaseTtlMs;
    const deadline = this.#now() + ttl + 5_000;
    let lastTtl: number | undefined;
    for (;;) {
      const r = await store.acquireLease(ttl);
      if (r.acquired) break;
      // A conductor that died leaves its lease until it expires; a live one renews it, which
      // shows as its time-to-live going up again.
      if ((lastTtl !== undefined && r.ttlMs > lastTtl + 200) || this.#now() > deadline) {
        throw new ConductorBusyError(r.holder);
      }
      if (lastTtl === undefined) {
        this.#log.info(
          { holder: r.holder, ttlMs: r.ttlMs },
          'the study lease is held: waiting to see whether its conductor is alive',
        );
      }
      lastTtl = r.ttlMs;
      await new Promise((res) => setTimeout(res, 250));
    }
    this.#leaseTimer = setInterval(
      () => {
        store.renewLease(ttl).then(
          (ok) => {
            if (!ok) this.#leaseLost = true;
          },
          (err: unknown) => this.#log.warn({ err }, 'could not renew the study lease; retrying'),
        );
      },
      Math.max(500, Math.floor(ttl / 3)),
    );
    this.#leaseTimer.unref();
  }

  async #start(): Promise<void> {
    const x = this.expanded;
    const store = this.#o.store;
    const { graph, passThrough } = buildInstanceGraph(x);
    this.#graph = graph;
    const record = await store.readRecord();
    const resuming = record[F.state] !== undefined;
    if (resuming) {
      const bytes = await store.readState(x.instanceCount);
      this.records.replaceAll(bytes);
      this.#cursor = record[F.cursor] ?? '0';
      this.#controlCursor = record[F.controlCursor] ?? '0';
      this.#committedCursor = this.#cursor;
      this.#committedControlCursor = this.#controlCursor;
      this.#cancelled = record[F.cancelled] === '1';
      this.#startedMs = Number(record[F.startedAt] ?? this.#now());
      const names = JSON.parse(record[F.workerNames] ?? '[""]') as string[];
      names.forEach((n, k) => {
        this.#workerNames[k] = n;
        if (n) this.#workerIndex.set(n, k);
      });
      this.#limits = {
        attempts: this.#o.limits.attempts ?? Number(record[F.attempts] ?? 1),
        rlimit: this.#o.limits.rlimit ?? Number(record[F.rlimit] ?? 1),
        throttle: this.#o.limits.throttle ?? Number(record[F.throttle] ?? 0),
      };
      if (record[F.state] !== 'RUNNING') {
        this.#log.info({ state: record[F.state] }, 'the study had already ended');
      }
    } else {
      this.#startedMs = this.#now();
      this.#lastReconcile = this.#startedMs; // a new study has nothing to reconcile yet
      this.#limits = { attempts: 1, rlimit: 1, throttle: 0, ...stripUndefined(this.#o.limits) };
      await store.create(
        x.instanceCount,
        {
          [F.meta]: JSON.stringify(this.#o.publicMeta),
          [F.state]: 'RUNNING',
          [F.startedAt]: String(this.#startedMs),
          [F.cursor]: '0',
          [F.controlCursor]: '0',
        },
        this.#startedMs,
      );
    }
    this.#fields[F.attempts] = String(this.#limits.attempts);
    this.#fields[F.rlimit] = String(this.#limits.rlimit);
    this.#fields[F.throttle] = String(this.#limits.throttle);
    this.#fields[F.state] = 'RUNNING';
    this.#fields[F.conductor] = store.token.split(':').slice(0, 2).join(':');

    const r = this.records;
    for (let i = 0; i < x.instanceCount; i++) {
      const s = r.state(i);
      this.#counts[s]!++;
      this.#stepCounts[x.stepIndexOf(i) * 16 + s]!++;
      if ((s === StepState.FAILED || s === StepState.TIMEDOUT) && this.#failed.length < MAX_FAILURES_TRACKED)
        this.#failed.push(i);
      if (s === StepState.PENDING) this.#queued++;
      else if (s === StepState.RUNNING) this.#running++;
      if (s === StepState.PENDING || s === StepState.RUNNING) this.#await(i);
      if (s === StepState.FINISHED) this.#timeRun(i, r.startMs(i), r.endMs(i));
    }
    const restored = ReadinessTracker.restore(
      graph,
      (i) => r.state(i) === StepState.FINISHED,
      (i) => {
        const s = r.state(i);
        return s === StepState.FAILED || s === StepState.TIMEDOUT || s === StepState.CANCELLED;
      },
      { passThrough },
    );
    this.#tracker = restored.tracker;
    for (const i of restored.ready) {
      const s = r.state(i);
      if (s !== StepState.PENDING && s !== StepState.RUNNING) this.#ready.push(i);
    }
    this.#log.info(
      { instances: x.instanceCount, resuming, ready: this.#ready.length, inFlight: this.#queued + this.#running },
      resuming ? 'resuming study' : 'starting study',
    );
    if (this.#cancelled) await this.#removeJobs(this.#beginCancel());
    if (resuming && this.#queued + this.#running > 0) await this.#reconcile();
    await this.#step(true);
  }

  // ---- applying what workers report ---------------------------------------------------------

  #applyEvent(ev: StepEvent): void {
    const i = ev.index;
    const r = this.records;
    if (i < 0 || i >= r.count) {
      this.#log.warn({ index: i }, 'ignored an event for an instance this study does not have');
      return;
    }
    if (isFinalState(r.state(i))) return;
    // The next attempt: sent by a conductor that died before its commit (see COMMIT_DELAY_MS).
    if (ev.attempt === r.attempt(i) + 1) this.#adopt(i, ev.attempt);
    else if (ev.attempt !== r.attempt(i)) return; // stale: a newer attempt exists
    const worker = this.#workerRef(ev.worker, ev.host);
    if (ev.type === 'started') {
      if (r.state(i) === StepState.PENDING) this.#setState(i, StepState.RUNNING);
      r.setStartMs(i, ev.startMs);
      r.setEndMs(i, 0);
      r.setWorker(i, worker);
      this.#touch(i);
      return;
    }
    this.#applyResult(i, ev, worker);
  }

  /**
   * Takes attempt `attempt` of instance `i` as sent: a conductor before this one enqueued it and
   * died before committing that. Replaying the same events, this one would send the same job
   * (its id names the instance and attempt, and a step of one instance is never bundled); its
   * result must count, or the job it enqueued again would be refused by the fence as done.
   */
  #adopt(i: number, attempt: number): void {
    const r = this.records;
    this.#log.debug({ index: i, attempt }, 'an attempt sent but not written by an earlier conductor reported');
    r.setAttempt(i, attempt);
    r.setBundle(i, i);
    if (!r.submitMs(i)) r.setSubmitMs(i, this.#now());
    const s = r.state(i);
    if (s !== StepState.PENDING && s !== StepState.RUNNING) {
      this.#setState(i, StepState.PENDING);
      this.#await(i);
    }
  }

  #applyResult(i: number, ev: StepResult, worker: number): void {
    const r = this.records;
    // Handed back unstarted (a bundle past its budget, the rest of a broken chain): no run to record.
    if (ev.outcome !== 'interrupted' || ev.pid !== 0) {
      r.setEndMs(i, ev.endMs);
      if (!r.startMs(i)) r.setStartMs(i, ev.startMs);
      r.setPid(i, ev.pid);
      r.setExitCode(i, ev.exitCode ?? -1);
    }
    r.setWorker(i, worker);
    // Made only for what is logged: most results are successes, which are not.
    const log = (): Logger =>
      this.#log.child({ index: i, name: this.expanded.instanceName(i), attempt: ev.attempt, worker: ev.worker });
    if (ev.outcome === 'succeeded' || ev.outcome === 'failed') this.#timeRun(i, ev.startMs, ev.endMs);
    switch (ev.outcome) {
      case 'succeeded':
        this.#finish(i, StepState.FINISHED);
        for (const c of this.#tracker.complete(i)) this.#makeReady(c);
        return;
      case 'failed':
      case 'rejected': {
        const tries = r.tries(i) + 1;
        r.setTries(i, tries);
        if (!this.#cancelled && tries < this.#limits.attempts) {
          log().info({ exitCode: ev.exitCode, tries, message: ev.message }, 'step failed; trying again');
          this.#retry(i);
        } else {
          log().warn({ exitCode: ev.exitCode, signal: ev.signal, message: ev.message }, 'step failed');
          this.#fail(i, StepState.FAILED);
        }
        return;
      }
      case 'timedout': {
        const hasRestart = this.expanded.instance(i).restart !== undefined;
        const restarts = r.restarts(i);
        if (!this.#cancelled && hasRestart && (this.#limits.rlimit === 0 || restarts < this.#limits.rlimit)) {
          r.setRestarts(i, restarts + 1);
          r.setFlags(i, r.flags(i) | STATE_FLAG_RESTART);
          log().info({ restarts: restarts + 1 }, 'step timed out; running its restart command');
          this.#retry(i);
        } else {
          log().warn({ restarts }, hasRestart ? 'step timed out; restart limit reached' : 'step timed out');
          this.#fail(i, hasRestart ? StepState.FAILED : StepState.TIMEDOUT);
        }
        return;
      }
      case 'cancelled':
        this.#fail(i, StepState.CANCELLED);
        return;
      case 'interrupted':
      case 'preempted':
        if (this.#cancelled) {
          this.#finish(i, StepState.CANCELLED);
          return;
        }
        if (ev.outcome === 'preempted' && this.expanded.instance(i).restart !== undefined) {
          r.setFlags(i, r.flags(i) | STATE_FLAG_RESTART);
        }
        log().info({ outcome: ev.outcome, message: ev.message }, 'step handed back; running it again');
        this.#retry(i, ev.outcome === 'preempted' ? StepState.PREEMPTED : StepState.INITIALIZED);
        return;
      default: {
        const never: never = ev.outcome;
        throw new Error(`unknown outcome ${String(never)}`);
      }
    }
  }

  async #applyControl(req: ControlRequest): Promise<void> {
    switch (req.type) {
      case 'cancel':
        if (!this.#cancelled) {
          this.#log.info('cancel requested');
          this.#cancelled = true;
          this.#fields[F.cancelled] = '1';
          const queued = this.#beginCancel();
          // Commit the flag before telling workers, so a worker that asks sees it.
          await this.#commit();
          await this.#o.store.signalWorkers({ type: 'cancel', studyId: this.#o.studyId });
          await this.#removeJobs(queued);
        }
        return;
      case 'update':
        if (req.throttle !== undefined) this.#limits.throttle = req.throttle;
        if (req.rlimit !== undefined) this.#limits.rlimit = req.rlimit;
        this.#fields[F.throttle] = String(this.#limits.throttle);
        this.#fields[F.rlimit] = String(this.#limits.rlimit);
        this.#log.info({ throttle: this.#limits.throttle, rlimit: this.#limits.rlimit }, 'limits updated');
        return;
      default: {
        const never: never = req;
        throw new Error(`unknown control request ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Cancel: nothing new starts; queued and waiting instances are CANCELLED now, running ones when
   * they report. Returns the jobs of the instances cancelled while queued, for #removeJobs.
   */
  #beginCancel(): { queue: string; id: string }[] {
    const r = this.records;
    const queued: { queue: string; id: string }[] = [];
    for (let i = 0; i < r.count; i++) {
      const s = r.state(i);
      if (isFinalState(s) || s === StepState.RUNNING) continue;
      if (s === StepState.PENDING) queued.push(this.#jobRef(i));
      this.#finish(i, StepState.CANCELLED);
    }
    this.#ready.length = 0;
    this.#readyHead = 0;
    this.#cancelDeadline = this.#now() + this.#o.cancelGraceMs;
    return uniqueJobs(queued);
  }

  /** Removes queued jobs of cancelled steps, and waits for it: they must not outlive the study. */
  async #removeJobs(jobs: readonly { queue: string; id: string }[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      const running = await this.#o.queues.removeQueued(jobs);
      this.#log.debug({ jobs: jobs.length, running }, 'removed the queued jobs of cancelled steps');
    } catch (err) {
      this.#log.warn({ err }, 'could not remove queued jobs');
    }
  }

  /** Running steps that never reported after a cancel (their worker is gone) are CANCELLED anyway. */
  #abandonRunning(): void {
    const r = this.records;
    for (let i = 0; i < r.count; i++) if (r.state(i) === StepState.RUNNING) this.#finish(i, StepState.CANCELLED);
    this.#cancelDeadline = 0;
  }

  // ---- state transitions --------------------------------------------------------------------

  #setState(i: number, s: number): void {
    const r = this.records;
    const old = r.state(i);
    if (old === s) return;
    this.#counts[old]!--;
    this.#counts[s]!++;
    const base = this.expanded.stepIndexOf(i) * 16;
    this.#stepCounts[base + old]!--;
    this.#stepCounts[base + s]!++;
    if (old === StepState.PENDING) this.#queued--;
    else if (old === StepState.RUNNING) this.#running--;
    if (s === StepState.PENDING) this.#queued++;
    else if (s === StepState.RUNNING) this.#running++;
    else this.#unawait(i);
    r.setState(i, s);
    this.#touch(i);
  }

  #finish(i: number, s: number): void {
    this.#setState(i, s);
    if ((s === StepState.FAILED || s === StepState.TIMEDOUT) && this.#failed.length < MAX_FAILURES_TRACKED)
      this.#failed.push(i);
    this.#fenceDeletes.push(i);
    if (s === StepState.FINISHED) this.#finishRate.record(this.#now());
  }

  /** A failure fails every descendant, as in Maestro; other branches go on. */
  #fail(i: number, s: number): void {
    this.#finish(i, s);
    for (const d of this.#tracker.fail(i)) {
      if (!isFinalState(this.records.state(d))) this.#finish(d, StepState.FAILED);
    }
  }

  #retry(i: number, state: number = StepState.INITIALIZED): void {
    this.#setState(i, state);
    // A chain's member handed back before its parent ended is sent when the parent finishes.
    if (this.#tracker.remainingParents(i) > 0) return;
    // Retries go first: they already waited once.
    if (this.#readyHead > 0) this.#ready[--this.#readyHead] = i;
    else this.#ready.unshift(i);
  }

  #makeReady(i: number): void {
    this.#ready.push(i);
  }

  /** Counts in-flight instance `i` as awaited if it has children (see #readPause). */
  #await(i: number): void {
    if (this.#awaited[i] || this.#graph.childCount(i) === 0) return;
    this.#awaited[i] = 1;
    this.#awaitedCount++;
  }

  /** Instance `i`'s end can no longer let anything be sent (it ended, or its only child rides after it). */
  #unawait(i: number): void {
    if (!this.#awaited[i]) return;
    this.#awaited[i] = 0;
    this.#awaitedCount--;
  }

  #touch(i: number): void {
    if (!this.#dirty[i]) {
      this.#dirty[i] = 1;
      this.#dirtyList.push(i);
    }
  }

  #workerRef(name: string, host: string): number {
    const key = name || host;
    let k = this.#workerIndex.get(key);
    if (k === undefined) {
      k = this.#workerNames.length;
      if (k > 0xffff) return 0;
      this.#workerNames.push(key);
      this.#workerIndex.set(key, k);
      this.#fields[F.workerNames] = JSON.stringify(this.#workerNames);
    }
    return k;
  }

  #jobRef(i: number): { queue: string; id: string } {
    const job = buildStepJob(this.expanded, i, this.records.record(i), {
      prefix: this.#o.prefix,
      studyId: this.#o.studyId,
    });
    return { queue: job.queue, id: job.id };
  }

  // ---- dispatch, commit, enqueue ------------------------------------------------------------

  /**
   * Moves ready instances into the queue while the window and throttle allow: alone, or with
   * the ready instances right behind them in a bundle (see BundlePolicy).
   */
  #dispatch(): QueuedJob[] {
    const jobs: QueuedJob[] = [];
    if (this.#cancelled) return jobs;
    const r = this.records;
    const x = this.expanded;
    const now = this.#now();
    const full = (): boolean =>
      this.#queued >= this.#o.window ||
      (this.#limits.throttle > 0 && this.#queued + this.#running >= this.#limits.throttle);
    while (this.#readyHead < this.#ready.length && !full()) {
      const first = this.#ready[this.#readyHead]!;
      if (!this.#waitsToBeSent(first)) {
        this.#readyHead++; // adopted (#adopt) while it waited here
        continue;
      }
      const step = x.stepIndexOf(first);
      let size = this.#bundleSize(step, now);
      if (size === 0) break; // its first instances are being timed; held (at most PROBE_WAIT_MS)
      // The last ones go out in ever smaller bundles: the end of a study is not one worker
      // finishing a long bundle while the others have nothing left.
      size = Math.min(size, Math.max(1, Math.floor((this.#ready.length - this.#readyHead) / TAIL_SPREAD)));
      this.#readyHead++;
      const members = [this.#jobFor(first, first)];
      this.#send(first, first, now);
      while (members.length < size && this.#readyHead < this.#ready.length && !full()) {
        const i = this.#ready[this.#readyHead]!;
        if (!this.#waitsToBeSent(i) || x.stepIndexOf(i) !== step || r.attempt(i) + 1 !== members[0]!.data.attempt)
          break;
        const job = this.#jobFor(i, first);
        if (!fitsBundle(members[0]!, job)) break;
        this.#readyHead++;
        this.#send(i, first, now);
        members.push(job);
      }
      if (members.length === 1 && this.#chainsAllowed() && this.#extendChain(members, now, full)) {
        jobs.push(chainJob(members));
        continue;
      }
      // The budget matters only to a job of several members, which only a bundle policy makes.
      const budgetMs = Math.max(1, Math.round((this.#o.bundle?.targetMs ?? 0) * BUNDLE_BUDGET_FACTOR));
      jobs.push(bundleJob(members, budgetMs));
    }
    if (this.#readyHead > 4096 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready.splice(0, this.#readyHead);
      this.#readyHead = 0;
    }
    return jobs;
  }

  /** Chains, like bundles, need a bundle policy, and count instances in flight wrongly for a throttle. */
  #chainsAllowed(): boolean {
    const policy = this.#o.bundle;
    return policy !== undefined && policy.maxSize > 1 && this.#limits.throttle === 0;
  }

  /**
   * Appends to a job of one instance (`members`, just sent) the instances that can only follow
   * it, one after the other: each the child of the one before whose every other parent has
   * finished, with the same settings (StepJob.chain). Returns whether any was appended.
   */
  #extendChain(members: QueuedJob[], now: number, full: () => boolean): boolean {
    const lead = members[0]!;
    let bytes = lead.data.script.length + lead.data.workspace.length;
    let p = lead.data.index;
    while (members.length < MAX_BUNDLE_MEMBERS && !full()) {
      const c = this.#chainSuccessor(p);
      if (c < 0 || this.records.attempt(c) + 1 !== lead.data.attempt) break;
      const job = this.#jobFor(c, lead.data.index);
      bytes += job.data.script.length + job.data.workspace.length;
      if (bytes > CHAIN_MAX_BYTES || !fitsBundle(lead, job)) break;
      this.#send(c, lead.data.index, now);
      members.push(job);
      // Its end sends nothing now if the child that rides after it is its only one.
      if (this.#graph.childCount(p) === 1) this.#unawait(p);
      p = c;
    }
    return members.length > 1;
  }

  /** A child of `p` that waits for nothing else and was never sent; -1 if none. */
  #chainSuccessor(p: number): number {
    const n = this.expanded.instanceCount;
    for (const c of this.#graph.children(p)) {
      if (c < n && this.records.state(c) === StepState.INITIALIZED && this.#tracker.remainingParents(c) === 1) return c;
    }
    return -1;
  }

  /** Whether a ready instance still waits to be sent (not adopted or ended meanwhile). */
  #waitsToBeSent(i: number): boolean {
    const s = this.records.state(i);
    return s === StepState.INITIALIZED || s === StepState.PREEMPTED;
  }

  /** Whether the job holds its own instance only, as it always would: its step has one and no chain follows. */
  #alwaysAlone(job: QueuedJob): boolean {
    if (job.data.more?.length) return false;
    return this.expanded.steps[this.expanded.stepIndexOf(job.data.index)]!.instanceCount === 1;
  }

  /** The job of instance `i`'s next attempt in the bundle that `bundle` leads (nothing changed yet). */
  #jobFor(i: number, bundle: number): QueuedJob {
    const r = this.records;
    const record = { flags: r.flags(i), attempt: r.attempt(i) + 1, bundle };
    return buildStepJob(this.expanded, i, record, this.#o);
  }

  /** Makes instance `i` PENDING as its next attempt, in the bundle that `bundle` leads (#jobFor's job). */
  #send(i: number, bundle: number, now: number): void {
    const r = this.records;
    r.setAttempt(i, r.attempt(i) + 1);
    r.setBundle(i, bundle);
    if (!r.submitMs(i)) r.setSubmitMs(i, now);
    this.#setState(i, StepState.PENDING);
    this.#await(i);
  }

  /** Instances of step `s` to send in one job now; 0: none yet (its first ones are being timed). */
  #bundleSize(s: number, now: number): number {
    const policy = this.#o.bundle;
    if (!policy || policy.maxSize <= 1 || this.#limits.throttle > 0) return 1;
    if (this.#timed[s]! >= MIN_TIMED) {
      const fit = Math.floor(policy.targetMs / Math.max(1, this.#meanRunMs[s]!));
      return Math.max(1, Math.min(policy.maxSize, fit));
    }
    if (this.#probeFrom[s] === 0) this.#probeFrom[s] = now;
    if (now - this.#probeFrom[s]! >= PROBE_WAIT_MS) return 1;
    const c = this.stepCounts(s);
    return c[StepState.PENDING]! + c[StepState.RUNNING]! < PROBE_INSTANCES ? 1 : 0;
  }

  /** Counts a run of instance `i` that took endMs - startMs into its step's mean run time. */
  #timeRun(i: number, startMs: number, endMs: number): void {
    if (!(startMs > 0 && endMs >= startMs)) return;
    const s = this.expanded.stepIndexOf(i);
    const n = Math.min(TIMING_MEMORY, ++this.#timed[s]!);
    this.#meanRunMs[s]! += (endMs - startMs - this.#meanRunMs[s]!) / n;
  }

  async #step(changed: boolean, mayDefer = false): Promise<void> {
    const jobs = this.#dispatch();
    const progress = this.progress();
    const due = changed || jobs.length > 0 || this.#dirtyList.length > 0 || Object.keys(this.#fields).length > 0;
    if (due && mayDefer && jobs.every((j) => this.#alwaysAlone(j)) && this.#deferCommit()) {
      if (jobs.length > 0) await this.#o.queues.add(jobs);
    } else if (due) {
      this.#fields[F.counts] = JSON.stringify(progress.counts);
      await this.#commit(jobs.length > 0 ? () => this.#o.queues.add(jobs) : undefined);
      this.#o.onChange?.(this);
    }
    this.#o.onProgress?.(progress);
  }

  /** Puts off a commit (see COMMIT_DELAY_MS); false once one has waited COMMIT_DELAY_MS. */
  #deferCommit(): boolean {
    const now = Date.now();
    this.#deferredSince ||= now;
    return now - this.#deferredSince < COMMIT_DELAY_MS;
  }

  /**
   * Writes the dirty records and fields. `enqueue` (adding the jobs this commit made PENDING) is
   * sent right after the commit without waiting for its reply: both travel on one connection, so
   * Redis runs the commit first and a chain's child is enqueued one round trip sooner. Should the
   * commit be refused (lease lost: the enqueue ran anyway), the fence keeps the jobs harmless: a
   * newer conductor enqueues the same ids (a no-op) or refuses their claims as stale.
   */
  async #commit(enqueue?: () => Promise<void>): Promise<void> {
    const dirty = this.#dirtyList.sort((a, b) => a - b);
    const ranges: [number, Uint8Array][] = [];
    if (this.#redisRestarted) {
      ranges.push([0, this.records.bytes]);
      Object.assign(this.#fields, {
        [F.meta]: JSON.stringify(this.#o.publicMeta),
        [F.state]: this.#state,
        [F.startedAt]: String(this.#startedMs),
        [F.attempts]: String(this.#limits.attempts),
        [F.rlimit]: String(this.#limits.rlimit),
        [F.throttle]: String(this.#limits.throttle),
        [F.workerNames]: JSON.stringify(this.#workerNames),
        ...(this.#cancelled ? { [F.cancelled]: '1' } : {}),
      });
      await this.#o.store.register(this.#startedMs);
      this.#redisRestarted = false;
    } else {
      for (let k = 0; k < dirty.length;) {
        const from = dirty[k]!;
        let to = from + 1;
        while (k + 1 < dirty.length && dirty[k + 1] === to) {
          k++;
          to++;
        }
        k++;
        ranges.push([from * STATE_RECORD_BYTES, this.records.slice(from, to)]);
      }
    }
    const fields = { ...this.#fields, [F.cursor]: this.#cursor, [F.controlCursor]: this.#controlCursor };
    const committed = this.#o.store.commit({ fields, ranges, fenceDeletes: this.#fenceDeletes }, this.#o.leaseTtlMs);
    const [commit, enqueued] = await Promise.allSettled([committed, enqueue?.()]);
    if (commit.status === 'rejected') throw commit.reason;
    if (enqueued.status === 'rejected') throw enqueued.reason;
    for (const i of dirty) this.#dirty[i] = 0;
    this.#dirtyList = [];
    this.#fenceDeletes = [];
    this.#fields = {};
    this.#committedCursor = fields[F.cursor];
    this.#committedControlCursor = fields[F.controlCursor];
    this.#deferredSince = 0;
  }

  async #housekeeping(): Promise<void> {
    const now = this.#now();
    if (this.#reconnected) {
      this.#reconnected = false;
      // Redis may have lost the lease with its data: take it back before writing anything.
      if (!(await this.#o.store.renewLease(this.#o.leaseTtlMs))) throw new LeaseLostError();
      if (!(await this.#o.store.exists())) {
        this.#log.warn('Redis came back without the study (it lost its data); writing the whole state again');
        this.#redisRestarted = true;
        await this.#commit();
      }
      await this.#reconcile();
    }
    if (now - this.#lastTrim > TRIM_EVERY_MS) {
      this.#lastTrim = now;
      await this.#o.store.trim(this.#committedCursor, this.#committedControlCursor);
    }
    if (now - this.#lastReconcile > RECONCILE_EVERY_MS && this.#queued + this.#running > 0) {
      await this.#reconcile();
    }
  }

  /**
   * Finds in-flight instances whose job no longer exists and never reported (Redis lost data):
   * they run again as a new attempt. Job states are read first and events after, so a job that
   * completed in between is seen through its result, not mistaken for lost.
   */
  async #reconcile(): Promise<void> {
    this.#lastReconcile = this.#now();
    const r = this.records;
    const inFlight: number[] = [];
    for (let i = 0; i < r.count; i++) {
      const s = r.state(i);
      if (s === StepState.PENDING || s === StepState.RUNNING) inFlight.push(i);
    }
    if (inFlight.length === 0) return;
    const refs = inFlight.map((i) => this.#jobRef(i));
    const attempts = inFlight.map((i) => r.attempt(i));
    // One question per job: the members of a bundle share theirs.
    const jobs = uniqueJobs(refs);
    const answers = await this.#o.queues.jobStates(jobs);
    const stateOf = new Map(jobs.map((j, k) => [`${j.queue}/${j.id}`, answers[k]]));
    const states = refs.map((j) => stateOf.get(`${j.queue}/${j.id}`));
    // Drain everything reported so far before deciding.
    for (;;) {
      const batch = await this.#o.store.read(this.#cursor, this.#controlCursor, undefined, READ_COUNT);
      if (!batch || (batch.events.length === 0 && batch.controls.length === 0)) break;
      for (const { request } of batch.controls) await this.#applyControl(request);
      for (const { event } of batch.events) this.#applyEvent(event);
      if (batch.lastEventId) this.#cursor = batch.lastEventId;
      if (batch.lastControlId) this.#controlCursor = batch.lastControlId;
    }
    let lost = 0;
    inFlight.forEach((i, k) => {
      const s = r.state(i);
      if ((s !== StepState.PENDING && s !== StepState.RUNNING) || r.attempt(i) !== attempts[k]) return;
      if (states[k] === 'missing') {
        lost++;
        this.#retry(i);
      } else if (states[k] === 'failed') {
        lost++;
        this.#applyResult(
          i,
          {
            type: 'result',
            index: i,
            attempt: attempts[k]!,
            run: 1,
            worker: '',
            host: '',
            outcome: 'failed',
            exitCode: null,
            signal: null,
            pid: 0,
            startMs: r.startMs(i) || this.#now(),
            endMs: this.#now(),
            message: 'its job failed in the queue without a result (rejected by a worker)',
          },
          0,
        );
      }
    });
    if (lost > 0) this.#log.warn({ lost }, 'queued steps were lost or rejected without a result; running them again');
  }

  // ---- completion ---------------------------------------------------------------------------

  #finalCount(): number {
    const c = this.#counts;
    return c[StepState.FINISHED]! + c[StepState.FAILED]! + c[StepState.TIMEDOUT]! + c[StepState.CANCELLED]!;
  }

  #isDone(): boolean {
    return this.#finalCount() === this.expanded.instanceCount;
  }

  #finalState(): StudyStateName {
    const c = this.#counts;
    if (this.#cancelled || c[StepState.CANCELLED]! > 0) return 'CANCELLED';
    if (c[StepState.FAILED]! > 0 || c[StepState.TIMEDOUT]! > 0) return 'FAILURE';
    return 'FINISHED';
  }
}

export class ConductorBusyError extends Error {
  override readonly name = 'ConductorBusyError';
  constructor(readonly holder: string) {
    const [host, pid] = holder.split(':');
    super(`another conductor (host ${host}, pid ${pid}) is driving this study; only one may run it at a time`);
  }
}

/** Each job once (the members of a bundle name the same one). */
function uniqueJobs(refs: readonly { queue: string; id: string }[]): { queue: string; id: string }[] {
  const seen = new Map<string, { queue: string; id: string }>();
  for (const ref of refs) seen.set(`${ref.queue}/${ref.id}`, ref);
  return [...seen.values()];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
