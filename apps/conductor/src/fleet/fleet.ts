/**
 * The conductor's watch over the workers of its study, every few seconds:
 * - steps queued that no live worker can ever run (too large, or a walltime longer than every
 *   worker's time left) are reported: a warning per step and reason, and the study record's
 *   `blocked` field, instead of waiting silently;
 * - a step that exited Merlin's STOP_WORKERS drains the workers of the study's queues;
 * - with --autoscale, allocations are submitted while runnable work waits and no worker can take
 *   it (policy.ts), sized to that work from the run times learned so far (sizing.ts), and every
 *   allocation the study started is released when it ends; a Merlin
 *   study's worker groups each get allocations of their own shape, for their own queues.
 *
 * Ticks never overlap; an error in one is logged and the next tries again.
 */
import { StepState, stepDemand, type AllocationRecord, type WorkerRecord } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { Conductor, QuarantineEvidence } from '../conductor/index.js';
import { jobSettingsOf, queueNamesOf, settingsVaryByInstance } from '../conductor/index.js';
import { AllocationError, prepareLaunch, submitLaunch } from '../allocations/index.js';
import type { SchedulerClient, LaunchSettings, LaunchTarget } from '../allocations/index.js';
import type { FleetStore } from '../redis/index.js';
import {
  backoffMs,
  blockedReason,
  decideScale,
  unfitForAllocations,
  type AllocationShape,
  type WaitingStep,
} from './policy.js';
import { sizeAllocation, type LearnedRuntime, type Sizing } from './sizing.js';

export interface AutoscaleConfig {
  /** Each allocation: `nodes` is the most it may have. */
  readonly settings: LaunchSettings;
  readonly target: LaunchTarget;
  readonly client: SchedulerClient;
  readonly maxAllocations: number;
  /** Cores of a node (the scheduler's answer, or --cores-per-node); undefined = unknown. */
  readonly coresPerNode: number | undefined;
  readonly preemptMarginMs: number;
}

export interface FleetOptions {
  readonly conductor: Conductor;
  readonly store: FleetStore;
  readonly log: Logger;
  readonly studyId: string;
  /** One per allocation shape: a Merlin study's worker groups, else the study's one. */
  readonly autoscale?: readonly AutoscaleConfig[] | undefined;
  /** @default 2 s */
  readonly tickMs?: number;
  readonly now?: () => number;
}

/** An allocation running without any worker yet is still starting, for this long at most. */
const START_GRACE_MS = 60_000;

/** Queued instances of one step that no live worker can run, for one kind of reason. */
interface BlockedSteps {
  step: string;
  reason: string;
  instances: number;
}

interface Owned {
  record: AllocationRecord;
  /** When we first saw it running. */
  runningSince?: number;
  state: 'pending' | 'running';
}

/** The autoscaler of one allocation shape: the allocations it started, its backoff. */
class Scaler {
  readonly owned = new Map<string, Owned>();
  failures = 0;
  backoffUntil = 0;
  /** Submissions wait for two ticks in a row that want one: short blips do not start allocations. */
  wanted = false;
  constructor(readonly config: AutoscaleConfig) {}
}

const sameQueues = (a: readonly string[], b: readonly string[]): boolean =>
  [...a].sort().join(',') === [...b].sort().join(',');

export class Fleet {
  readonly #o: FleetOptions;
  readonly #now: () => number;
  /** Per step: whether its instances may ask for different things, and if not, their one ask. */
  readonly #varies: (boolean | undefined)[] = [];
  readonly #stepAsks: (WaitingStep | undefined)[] = [];
  /** Per queued instance of a step whose instances may differ, what it asks for. */
  readonly #instanceAsks = new Map<number, WaitingStep>();
  /** Step and reason keys already told in the log (each once per conductor). */
  readonly #reported = new Set<string>();
  /** The instances that were waiting for a worker at the last round. */
  #lastWaiting = new Set<number>();
  /** Workers already asked to drain for a quarantine. */
  readonly #drained = new Set<string>();
  /** What was last reported blocked, by step and kind of reason. */
  #blocked = new Map<string, BlockedSteps>();
  readonly #scalers: readonly Scaler[];
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: FleetOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#scalers = (options.autoscale ?? []).map((a) => new Scaler(a));
  }

  /** Starts watching; with autoscale, takes over the allocations a previous conductor of this study left. */
  async start(): Promise<void> {
    const scalers = this.#scalers;
    if (scalers.length > 0) {
      const records = await this.#o.store.allocations();
      const taken: string[] = [];
      for (const r of records) {
        if (r.origin !== 'autoscale' || r.studyId !== this.#o.studyId || r.endedAt !== undefined) continue;
        // With worker groups, an allocation is its group's: the one with its queues.
        const s = scalers.find(
          (x) =>
            r.scheduler === x.config.client.name &&
            (scalers.length === 1 || sameQueues(r.queues, x.config.settings.queues)),
        );
        if (!s) continue;
        s.owned.set(r.id, { record: r, state: 'pending' });
        taken.push(r.id);
      }
      if (taken.length > 0)
        this.#o.log.info({ allocations: taken }, 'autoscale: taking over the allocations of this study');
    }
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs ?? 2_000);
    this.#timer.unref();
  }

  /** One round; concurrent calls share it. */
  tick(): Promise<void> {
    this.#ticking ??= this.#round()
      .catch((err: unknown) => this.#o.log.warn({ err }, 'fleet watch failed; trying again'))
      .finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  /** Stops watching and releases every allocation this study's autoscaler started. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
    // A STOP_WORKERS right before the study's end is still carried out.
    if (this.#o.conductor.takeStopWorkers())
      await this.#stopWorkers(await this.#o.store.liveWorkers(this.#now())).catch((err: unknown) =>
        this.#o.log.warn({ err }, 'could not drain the workers'),
      );
    for (const s of this.#scalers) await this.#release(s);
  }

  async #release(s: Scaler): Promise<void> {
    if (s.owned.size === 0) return;
    const ids = [...s.owned.keys()];
    try {
      await s.config.client.cancel(ids);
      this.#o.log.info({ allocations: ids }, 'autoscale: study over; allocations released');
    } catch (err) {
      this.#o.log.error({ err, allocations: ids }, 'autoscale: cannot release the allocations; cancel them by hand');
      return;
    }
    const now = this.#now();
    for (const { record } of s.owned.values()) await this.#o.store.markEnded(record, now).catch(() => undefined);
    s.owned.clear();
  }

  async #round(): Promise<void> {
    const now = this.#now();
    const { all, settled } = this.#waiting();
    const scaling = this.#scalers.length > 0;
    // Only the autoscaler, and instances that waited a whole round, need the fleet read: an
    // instance is not blocked for waiting a moment (a chain's link waits between its parent's
    // end and its start, one link after another), and most rounds of a busy study see none.
    const stopWorkers = this.#o.conductor.takeStopWorkers();
    const quarantined = this.#o.conductor.quarantinedHosts();
    const read = scaling || stopWorkers || settled.length > 0 || quarantined.length > 0;
    const workers = read ? await this.#o.store.liveWorkers(now) : [];
    if (stopWorkers) await this.#stopWorkers(workers);
    if (quarantined.length > 0) await this.#drainQuarantined(workers, quarantined);
    this.#reportBlocked(settled, workers, now);
    for (const s of this.#scalers) await this.#autoscale(s, all, workers, now);
  }

  /**
   * Merlin's STOP_WORKERS: the workers serving this study's queues finish their running steps and
   * exit. Merlin stops every worker of its broker; a deployment here may serve other studies,
   * whose workers are left alone. What is left of the study waits for workers launched again.
   */
  async #stopWorkers(workers: readonly WorkerRecord[]): Promise<void> {
    const queues = queueNamesOf(this.#o.conductor.expanded);
    const names = workers.filter((w) => w.queues.split(',').some((q) => queues.includes(q))).map((w) => w.name);
    await this.#o.store.requestDrain({ allocations: [], workers: names });
    this.#o.log.warn({ workers: names }, 'a step exited MERLIN_STOP_WORKERS: draining the workers of this study');
  }

  /**
   * Workers on quarantined hosts stop taking work: they drain (finish what runs, then exit) rather
   * than idle, so that a broken node holds no allocation; one started there later is drained on
   * sight. Asked once per worker; the drain request outlives a missed message (DRAIN_TTL_MS).
   */
  async #drainQuarantined(workers: readonly WorkerRecord[], quarantined: readonly QuarantineEvidence[]): Promise<void> {
    const hosts = new Set(quarantined.map((q) => q.host));
    const names = workers.filter((w) => hosts.has(w.host) && !this.#drained.has(w.name)).map((w) => w.name);
    if (names.length === 0) return;
    await this.#o.store.requestDrain({ allocations: [], workers: names });
    for (const n of names) this.#drained.add(n);
    this.#o.log.warn(
      {
        workers: names,
        evidence: quarantined.filter((q) => workers.some((w) => w.host === q.host && names.includes(w.name))),
      },
      'bad-node quarantine: draining the workers of a host that fails far more than the rest',
    );
  }

  /**
   * Queued instances (dependencies done, not started), with what they ask for: all of them, and
   * those that were waiting at the last round already.
   */
  #waiting(): { all: WaitingStep[]; settled: WaitingStep[] } {
    const c = this.#o.conductor;
    const r = c.records;
    const all: WaitingStep[] = [];
    const settled: WaitingStep[] = [];
    const before = this.#lastWaiting;
    const now = new Set<number>();
    for (let i = 0; i < r.count; i++) {
      // A link queued behind its parent in a chain waits for the parent, not for a worker.
      if (r.state(i) === StepState.PENDING && c.parentsDone(i)) {
        const ask = this.#askOf(i);
        all.push(ask);
        if (before.has(i)) settled.push(ask);
        now.add(i);
      } else if (this.#instanceAsks.size > 0) this.#instanceAsks.delete(i);
    }
    this.#lastWaiting = now;
    return { all, settled };
  }

  /**
   * What instance `i` asks for. Rendering an instance costs, and most steps ask the same for
   * every instance: those share one object, rendered once.
   */
  #askOf(i: number): WaitingStep {
    const x = this.#o.conductor.expanded;
    const s = x.stepIndexOf(i);
    const varies = (this.#varies[s] ??= settingsVaryByInstance(x, s));
    const known = varies ? this.#instanceAsks.get(i) : this.#stepAsks[s];
    if (known) return known;
    const inst = x.instance(i);
    const { queue, resources, timeoutMs } = jobSettingsOf(x, inst);
    const ask = { step: inst.step, queue, demand: stepDemand(resources), timeoutMs };
    if (varies) this.#instanceAsks.set(i, ask);
    else this.#stepAsks[s] = ask;
    return ask;
  }

  #reportBlocked(waiting: readonly WaitingStep[], workers: readonly WorkerRecord[], now: number): void {
    // One entry per step and kind of reason. The reason's numbers (time left) change as time
    // passes: each is told once, as first seen.
    const byStep = new Map<string, BlockedSteps>();
    const reasonOf = perAsk((s) => blockedReason(s, workers, now));
    for (const s of waiting) {
      const blocked = reasonOf(s);
      if (blocked === undefined) continue;
      const key = `${s.step}\n${blocked.kind}`;
      const entry = byStep.get(key) ?? { step: s.step, reason: blocked.reason, instances: 0 };
      entry.instances++;
      byStep.set(key, entry);
    }
    let changed = byStep.size !== this.#blocked.size;
    for (const [key, b] of byStep) {
      const known = this.#blocked.get(key);
      if (known) {
        b.reason = known.reason;
        if (known.instances !== b.instances) changed = true;
        continue;
      }
      changed = true;
      if (this.#reported.has(key)) continue; // told already, when it was blocked before
      this.#reported.add(key);
      this.#o.log.warn(
        { step: b.step, instances: b.instances, reason: b.reason },
        `step ${b.step} cannot run on any live worker: ${b.reason}`,
      );
    }
    this.#blocked = byStep;
    if (changed) this.#o.conductor.reportBlocked(JSON.stringify([...byStep.values()]));
  }

  async #autoscale(
    s: Scaler,
    waiting: readonly WaitingStep[],
    workers: readonly WorkerRecord[],
    now: number,
  ): Promise<void> {
    const a = s.config;
    await this.#refreshOwned(s, workers, now);
    const shape: AllocationShape = {
      coresPerWorker: a.coresPerNode === undefined ? undefined : Math.floor(a.coresPerNode / a.settings.workersPerNode),
      workersPerNode: a.settings.workersPerNode,
      gpusPerWorker: Math.floor((a.settings.gpusPerNode ?? 0) / a.settings.workersPerNode),
      maxNodes: a.settings.nodes,
      walltimeSeconds: a.settings.walltimeSeconds,
      preemptMarginMs: a.preemptMarginMs,
      scheduler: a.settings.scheduler,
    };
    const runnable: WaitingStep[] = [];
    const learned = this.#learned();
    const unfitOf = perAsk((s) => unfitForAllocations(s, shape, learned.get(s.step)?.p90Ms));
    for (const w of waiting) {
      if (!a.settings.queues.includes(w.queue)) continue;
      const why = unfitOf(w);
      if (why === undefined) {
        runnable.push(w);
        continue;
      }
      const key = `${w.step}\n${why}`;
      if (!this.#reported.has(key)) {
        this.#reported.add(key);
        this.#o.log.warn({ step: w.step, reason: why }, `step ${w.step}: ${why}`);
      }
    }
    const owned = [...s.owned.values()];
    const starting = owned.filter(
      (o) =>
        o.state === 'pending' ||
        (!workers.some((w) => w.allocationId === o.record.id) && now - (o.runningSince ?? now) < START_GRACE_MS),
    ).length;
    const decision = decideScale({
      nowMs: now,
      waiting: runnable,
      workers: workers.filter((w) => a.settings.queues.some((q) => w.queues.split(',').includes(q))),
      starting,
      active: owned.length,
      maxAllocations: a.maxAllocations,
      shape,
      backoffUntilMs: s.backoffUntil,
    });
    if (!decision.submit) {
      s.wanted = false;
      return;
    }
    if (!s.wanted) {
      s.wanted = true; // confirm at the next tick
      return;
    }
    s.wanted = false;
    await this.#submit(s, sizeAllocation({ waiting: runnable, learned, shape }), runnable.length);
  }

  /** Each step's learned run times, by name (the sizing and the p90 check read them by step). */
  #learned(): Map<string, LearnedRuntime> {
    const c = this.#o.conductor;
    const learned = new Map<string, LearnedRuntime>();
    c.expanded.steps.forEach((step, i) => {
      const r = c.stepRuntime(i);
      if (r) learned.set(step.name, r);
    });
    return learned;
  }

  async #submit(s: Scaler, size: Sizing, waiting: number): Promise<void> {
    const now = this.#now();
    const a = s.config;
    const { nodes, walltimeSeconds } = size;
    try {
      const prepared = await prepareLaunch({ ...a.settings, nodes, walltimeSeconds }, a.target, new Date(now));
      const record = await submitLaunch(prepared, a.client, this.#o.store, now);
      s.owned.set(record.id, { record, state: 'pending' });
      s.failures = 0;
      this.#o.log.info(
        {
          allocation: record.id,
          scheduler: record.scheduler,
          nodes,
          walltimeSeconds,
          waiting,
          sizing: size.why,
          ...(size.slowest ? { slowestStep: size.slowest.step, slowestNeedMs: Math.round(size.slowest.needMs) } : {}),
          script: record.script,
        },
        'autoscale: allocation submitted',
      );
    } catch (err) {
      s.failures++;
      const delay = backoffMs(s.failures);
      s.backoffUntil = now + delay;
      const message = err instanceof AllocationError ? err.message : String(err);
      this.#o.log.error(
        { failures: s.failures, retryInMs: delay, reason: message },
        `autoscale: submitting an allocation failed (${s.failures} in a row); next try in ${Math.round(delay / 1000)} s: ${message}`,
      );
    }
  }

  /** Asks the scheduler about our allocations; forgets (and records) those that ended. */
  async #refreshOwned(s: Scaler, workers: readonly WorkerRecord[], now: number): Promise<void> {
    if (s.owned.size === 0) return;
    let states: Map<string, string>;
    try {
      states = await s.config.client.states([...s.owned.keys()]);
    } catch (err) {
      this.#o.log.warn({ err }, 'autoscale: cannot ask the scheduler about its allocations');
      return;
    }
    for (const [id, o] of s.owned) {
      const state = states.get(id) ?? 'ended';
      if (state === 'ended') {
        s.owned.delete(id);
        await this.#o.store.markEnded(o.record, now);
        this.#o.log.info(
          { allocation: id, workers: workers.filter((w) => w.allocationId === id).length },
          'autoscale: allocation ended',
        );
      } else if (state === 'running') {
        o.state = 'running';
        o.runningSince ??= now;
      }
    }
  }
}

/** `f`, computed once per ask: the instances of a step share theirs (Fleet.#askOf). */
function perAsk<T>(f: (s: WaitingStep) => T): (s: WaitingStep) => T {
  const seen = new Map<WaitingStep, T>();
  return (s) => {
    if (seen.has(s)) return seen.get(s) as T;
    const v = f(s);
    seen.set(s, v);
    return v;
  };
}
