/**
 * Dispatch: ready instances become queued jobs while the window and the throttle leave room,
 * alone, in bundles of short instances of one step, or in chains of instances that can only
 * follow one another. Pure: it builds the jobs and moves their instances to PENDING; the
 * conductor enqueues them.
 */
import { MAX_BUNDLE_MEMBERS, StepState } from '@maestro/protocol';
import type { QueuedJob } from '../queue/index.js';
import type { InstanceMachine } from './instance-machine.js';
import { buildStepJob, bundleJob, chainJob, fitsBundle } from './step-jobs.js';
import {
  BUNDLE_BUDGET_FACTOR,
  CHAIN_MAX_BYTES,
  MIN_TIMED,
  PROBE_INSTANCES,
  PROBE_WAIT_MS,
  TAIL_SPREAD,
} from './timing.js';

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

export interface DispatchOptions {
  readonly prefix: string;
  readonly studyId: string;
  /** Most instances waiting in Redis at once (`--window`). */
  readonly window: number;
  /** How short instances are bundled; undefined sends every instance alone. */
  readonly bundle?: BundlePolicy | undefined;
}

/** A job by its queue and id, for asking BullMQ about it or removing it. */
export interface JobRef {
  readonly queue: string;
  readonly id: string;
}

export class Dispatcher {
  readonly #m: InstanceMachine;
  readonly #o: DispatchOptions;
  #budgetBlocked: number | undefined;

  constructor(machine: InstanceMachine, options: DispatchOptions) {
    this.#m = machine;
    this.#o = options;
  }

  /**
   * Moves ready instances into jobs while the window and throttle allow: alone, or with the
   * ready instances right behind them in a bundle (see BundlePolicy), or with the instances that
   * can only follow them in a chain.
   */
  next(now: number): QueuedJob[] {
    const jobs: QueuedJob[] = [];
    const m = this.#m;
    this.#budgetBlocked = undefined;
    if (m.cancelRequested) return jobs;
    const x = m.expanded;
    const ready = m.ready;
    const full = (): boolean =>
      m.queued >= this.#o.window || (m.limits.throttle > 0 && m.queued + m.running >= m.limits.throttle);
    while (ready.size > 0 && !full()) {
      const first = ready.peek();
      if (!m.waitsToBeSent(first)) {
        ready.skip(); // adopted or ended while it waited here
        continue;
      }
      if (!this.#withinBudget(first)) break;
      const step = x.stepIndexOf(first);
      let size = this.#bundleSize(step, now);
      if (size === 0) break; // its first instances are being timed; held (at most PROBE_WAIT_MS)
      // The last ones go out in ever smaller bundles (see TAIL_SPREAD).
      size = Math.min(size, Math.max(1, Math.floor(ready.size / TAIL_SPREAD)));
      ready.skip();
      const members = [this.#jobFor(first, first)];
      m.send(first, first, now);
      while (members.length < size && ready.size > 0 && !full()) {
        const i = ready.peek();
        if (!m.waitsToBeSent(i) || x.stepIndexOf(i) !== step || m.records.attempt(i) + 1 !== members[0]!.data.attempt)
          break;
        const job = this.#jobFor(i, first);
        if (!fitsBundle(members[0]!, job) || !this.#withinBudget(i)) break;
        ready.skip();
        m.send(i, first, now);
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
    ready.compact();
    return jobs;
  }

  /**
   * Whether every job holds its own instance only, as it always would: its step has one and no
   * chain follows. Replayed after a crash, such a job comes out the same, so its commit may wait
   * (COMMIT_DELAY_MS); any other job is committed before it is enqueued.
   */
  allAlwaysAlone(jobs: readonly QueuedJob[]): boolean {
    const x = this.#m.expanded;
    for (const job of jobs) {
      if (job.data.more?.length) return false;
      if (x.steps[x.stepIndexOf(job.data.index)]!.instanceCount !== 1) return false;
    }
    return true;
  }

  /** The job instance `i`'s current attempt travels in. */
  jobRef(i: number): JobRef {
    const job = buildStepJob(this.#m.expanded, i, this.#m.records.record(i), this.#o);
    return { queue: job.queue, id: job.id };
  }

  /** The first instance the node-hour budget kept from being sent, if any (budget.ts). */
  get budgetBlocked(): number | undefined {
    return this.#budgetBlocked;
  }

  #withinBudget(i: number): boolean {
    const m = this.#m;
    if (m.budget.allows(i, m.limits.budget ?? 0)) return true;
    this.#budgetBlocked ??= i;
    return false;
  }

  /** Chains, like bundles, need a bundle policy, and count instances in flight wrongly for a throttle. */
  #chainsAllowed(): boolean {
    const policy = this.#o.bundle;
    return policy !== undefined && policy.maxSize > 1 && this.#m.limits.throttle === 0;
  }

  /**
   * Appends to a job of one instance (`members`, just sent) the instances that can only follow
   * it, one after the other: each the child of the one before whose every other parent has
   * finished, with the same settings (StepJob.chain). Returns whether any was appended.
   */
  #extendChain(members: QueuedJob[], now: number, full: () => boolean): boolean {
    const m = this.#m;
    const lead = members[0]!;
    let bytes = lead.data.script.length + lead.data.workspace.length;
    let p = lead.data.index;
    while (members.length < MAX_BUNDLE_MEMBERS && !full()) {
      const c = this.#chainSuccessor(p);
      if (c < 0 || m.records.attempt(c) + 1 !== lead.data.attempt) break;
      const job = this.#jobFor(c, lead.data.index);
      bytes += job.data.script.length + job.data.workspace.length;
      if (bytes > CHAIN_MAX_BYTES || !fitsBundle(lead, job) || !this.#withinBudget(c)) break;
      m.send(c, lead.data.index, now);
      members.push(job);
      // Its end sends nothing now if the child that rides after it is its only one.
      if (m.graph.childCount(p) === 1) m.unawait(p);
      p = c;
    }
    return members.length > 1;
  }

  /** A child of `p` that waits for nothing else and was never sent; -1 if none. */
  #chainSuccessor(p: number): number {
    const m = this.#m;
    const n = m.expanded.instanceCount;
    for (const c of m.graph.children(p)) {
      if (c < n && m.records.state(c) === StepState.INITIALIZED && m.tracker.remainingParents(c) === 1) return c;
    }
    return -1;
  }

  /** The job of instance `i`'s next attempt in the bundle that `bundle` leads (nothing changed yet). */
  #jobFor(i: number, bundle: number): QueuedJob {
    const r = this.#m.records;
    const record = { flags: r.flags(i), attempt: r.attempt(i) + 1, bundle };
    return buildStepJob(this.#m.expanded, i, record, this.#o);
  }

  /** Instances of step `s` to send in one job now; 0: none yet (its first ones are being timed). */
  #bundleSize(s: number, now: number): number {
    const m = this.#m;
    const policy = this.#o.bundle;
    if (!policy || policy.maxSize <= 1 || m.limits.throttle > 0) return 1;
    if (m.timing.timed(s) >= MIN_TIMED) {
      const fit = Math.floor(policy.targetMs / Math.max(1, m.timing.meanRunMs(s)));
      return Math.max(1, Math.min(policy.maxSize, fit));
    }
    if (now - m.timing.probeStart(s, now) >= PROBE_WAIT_MS) return 1;
    const c = m.stepCounts(s);
    return c[StepState.PENDING]! + c[StepState.RUNNING]! < PROBE_INSTANCES ? 1 : 0;
  }
}

/** Each job once (the members of a bundle name the same one). */
export function uniqueJobs(refs: readonly JobRef[]): JobRef[] {
  const seen = new Map<string, JobRef>();
  for (const ref of refs) seen.set(`${ref.queue}/${ref.id}`, ref);
  return [...seen.values()];
}
