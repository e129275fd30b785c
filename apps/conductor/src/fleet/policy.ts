/**
 * Decisions about the fleet, pure: which queued steps no live worker can run (reported, not left
 * waiting silently), and when the autoscaler submits another allocation, and how large.
 *
 * Autoscaling rules (what HyperQueue's users ran into, peers.md §2.2, is what they avoid):
 * - only work that is queued (its dependencies are done) counts, and only work an allocation of
 *   this autoscaler could run: a step too large for its nodes, or with a walltime longer than its
 *   allocations', never triggers a submission (it is reported instead);
 * - nothing is submitted while a live worker could take some of that work now, or while one of
 *   our allocations is still starting (queued by the scheduler, or running without a worker yet);
 * - at most `maxAllocations` at once; each sized to the work waiting (sizing.ts);
 * - a failed submission waits (5 s, 10 s, ... up to 5 min) before the next.
 */
import {
  fitStep,
  fitsTimeLeft,
  formatWalltime,
  type StepDemand,
  type WorkerCapacity,
  type WorkerRecord,
} from '@maestro/protocol';
import { nodesFor, usableMsOf } from './sizing.js';

/**
 * A step instance in the queue, waiting for a worker (the fleet shares one object among the
 * instances of a step that ask for the same).
 */
export interface WaitingStep {
  /** Step name (instances of one step are reported together). */
  readonly step: string;
  readonly queue: string;
  readonly demand: StepDemand;
  readonly timeoutMs: number | undefined;
}

export function capacityOf(w: WorkerRecord): WorkerCapacity {
  return {
    cores: w.cores ?? w.slots,
    gpus: w.gpus ?? 0,
    nodes: w.nodes ?? 1,
    scheduler: w.scheduler === 'slurm' || w.scheduler === 'flux' ? w.scheduler : 'local',
  };
}

const serves = (w: WorkerRecord, queue: string): boolean => w.queues.split(',').includes(queue);
const hms = (ms: number): string => formatWalltime(Math.max(0, Math.floor(ms / 1000)));

/** Why a step cannot run: too large (`size`), or not enough time left (`time`). */
export interface Blocked {
  readonly kind: 'size' | 'time';
  readonly reason: string;
}

/**
 * Why no live worker can ever run this step, or undefined if one can (or none serves its queue:
 * then it simply waits for workers).
 */
export function blockedReason(s: WaitingStep, workers: readonly WorkerRecord[], nowMs: number): Blocked | undefined {
  const candidates = workers.filter((w) => w.state !== 'stopped' && serves(w, s.queue));
  if (candidates.length === 0) return undefined;
  const sized = candidates.filter((w) => fitStep(s.demand, capacityOf(w)).fits);
  if (sized.length === 0) {
    const largest = candidates.reduce((a, b) => (capacityOf(b).cores > capacityOf(a).cores ? b : a));
    const fit = fitStep(s.demand, capacityOf(largest));
    return { kind: 'size', reason: `too large for every live worker: ${fit.fits ? '' : fit.reason}` };
  }
  if (sized.some((w) => fitsTimeLeft(s.timeoutMs, nowMs, w.stopAt))) return undefined;
  const most = Math.max(...sized.map((w) => (w.stopAt ?? nowMs) - nowMs));
  return {
    kind: 'time',
    reason: `its walltime ${hms(s.timeoutMs ?? 0)} is longer than the time left of every live worker that could run it (at most ${hms(most)})`,
  };
}

/** True when this worker could start the step now: it fits, its cores are free, and it has the time. */
export function canTakeNow(s: WaitingStep, w: WorkerRecord, nowMs: number): boolean {
  if (w.state !== 'running' || !serves(w, s.queue)) return false;
  const fit = fitStep(s.demand, capacityOf(w));
  if (!fit.fits || !fitsTimeLeft(s.timeoutMs, nowMs, w.stopAt)) return false;
  const freeCores = w.freeCores ?? w.slots - w.running;
  const freeGpus = w.freeGpus ?? 0;
  return freeCores >= fit.cores && freeGpus >= fit.gpus && w.running < w.slots;
}

/** What one allocation of the autoscaler gives each of its workers. */
export interface AllocationShape {
  /** Cores per worker, if the scheduler says how large nodes are. */
  readonly coresPerWorker: number | undefined;
  readonly workersPerNode: number;
  readonly gpusPerWorker: number;
  readonly maxNodes: number;
  readonly walltimeSeconds: number | undefined;
  /** The workers' preemption margin (they keep at most half of the time to it). */
  readonly preemptMarginMs: number;
  readonly scheduler: WorkerCapacity['scheduler'];
}

/**
 * Why no allocation of this shape can ever run the step, or undefined. `p90Ms`, the step's learned
 * p90 run time: an allocation whose workers have less would stop most of its slow runs midway.
 */
export function unfitForAllocations(s: WaitingStep, shape: AllocationShape, p90Ms?: number): string | undefined {
  const fit = fitStep(s.demand, {
    cores: shape.coresPerWorker ?? Number.MAX_SAFE_INTEGER,
    gpus: shape.gpusPerWorker,
    nodes: shape.maxNodes,
    scheduler: shape.scheduler,
  });
  if (!fit.fits) return `no allocation the autoscaler starts can run it: it ${fit.reason}`;
  if (shape.walltimeSeconds !== undefined && s.timeoutMs !== undefined) {
    const total = shape.walltimeSeconds * 1000;
    const usable = total - Math.min(shape.preemptMarginMs, total / 2);
    if (s.timeoutMs > usable) {
      return `no allocation the autoscaler starts can run it: its walltime ${hms(s.timeoutMs)} is longer than the ${hms(usable)} its workers have (--walltime ${formatWalltime(shape.walltimeSeconds)} less their preemption margin)`;
    }
  }
  if (shape.walltimeSeconds !== undefined && p90Ms !== undefined) {
    const usable = usableMsOf(shape.walltimeSeconds * 1000, shape.preemptMarginMs);
    if (p90Ms > usable) {
      return `no allocation the autoscaler starts can run it: its learned p90 run time ${hms(p90Ms)} is longer than the ${hms(usable)} its workers have (--walltime ${formatWalltime(shape.walltimeSeconds)} less their preemption margin)`;
    }
  }
  return undefined;
}

export interface ScaleInput {
  readonly nowMs: number;
  /** Queued steps an allocation of ours could run. */
  readonly waiting: readonly WaitingStep[];
  readonly workers: readonly WorkerRecord[];
  /** Our allocations not ended: starting (queued, or running without a worker yet) or running. */
  readonly starting: number;
  readonly active: number;
  readonly maxAllocations: number;
  readonly shape: AllocationShape;
  /** No submission before this (epoch ms), after failures. */
  readonly backoffUntilMs: number;
}

export type ScaleDecision =
  { readonly submit: true; readonly nodes: number } | { readonly submit: false; readonly why: string };

export function decideScale(i: ScaleInput): ScaleDecision {
  if (i.waiting.length === 0) return { submit: false, why: 'no work waiting' };
  if (i.nowMs < i.backoffUntilMs) return { submit: false, why: 'backing off after a failed submission' };
  if (i.starting > 0) return { submit: false, why: 'an allocation is starting' };
  if (i.active >= i.maxAllocations) return { submit: false, why: 'at --max-allocations' };
  if (i.waiting.some((s) => i.workers.some((w) => canTakeNow(s, w, i.nowMs)))) {
    return { submit: false, why: 'a live worker can take the waiting work' };
  }
  return { submit: true, nodes: nodesFor(i.waiting, i.shape).nodes };
}

/** Delay before the next submission after `failures` failed ones in a row. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(300_000, 5_000 * 2 ** (failures - 1));
}
