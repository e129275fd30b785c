/**
 * How large an allocation the autoscaler asks for, pure: nodes for the work waiting, and a
 * walltime from the run times learned so far (issue #25, item 2) instead of always the whole
 * --walltime. A shorter request starts sooner (backfill) and never holds nodes past the work.
 *
 * - nodes: enough for every waiting instance to run at once (their cores over the cores of a
 *   node), at least the most nodes one of them spans, at most --nodes-per-allocation;
 * - walltime: the time those nodes need for the waiting work (Σ instances × cores × learned mean
 *   run time ÷ cores of the allocation) plus the p90 of the longest step (the last one started
 *   may be a slow one), plus the workers' preemption margin; never less than what the slowest
 *   step needs (its p90, or its declared walltime, which workers insist on having left), never
 *   more than --walltime. Until every waiting step has a learned run time, or without the cores
 *   of a node, the work cannot be measured: the whole --walltime, as before.
 */
import { formatWalltime } from '@maestro/protocol';
import type { AllocationShape, WaitingStep } from './policy.js';

/** What the conductor learned of a step's run times (StepTiming's summary). */
export interface LearnedRuntime {
  readonly runs: number;
  readonly meanMs: number;
  readonly p90Ms: number;
}

export interface SizingInput {
  /** Queued instances this allocation is for (all runnable by its shape). */
  readonly waiting: readonly WaitingStep[];
  /** By step name; a step missing has no run finished yet. */
  readonly learned: ReadonlyMap<string, LearnedRuntime>;
  readonly shape: AllocationShape;
}

export interface Sizing {
  readonly nodes: number;
  /** Undefined: none asked for (the scheduler's default), as the user gave no --walltime. */
  readonly walltimeSeconds: number | undefined;
  /** Why this size, for the autoscaler's log line. */
  readonly why: string;
  /** Sized from learned run times: the step needing the most time, and that time (p90 or walltime). */
  readonly slowest?: { readonly step: string; readonly needMs: number };
}

/** Waiting instances of one step. */
interface StepWork {
  readonly step: string;
  /** Core-milliseconds of learned work, summed over the instances. */
  coreMs: number;
  /** The longest any one instance needs of a worker's time: its p90 or declared walltime. */
  needMs: number;
}

const hms = (ms: number): string => formatWalltime(Math.ceil(ms / 1000));

/** A worker keeps min(margin, half its time) back: the allocation time that leaves `usableMs`. */
export function allocationMsFor(usableMs: number, preemptMarginMs: number): number {
  return usableMs + Math.min(preemptMarginMs, usableMs);
}

/** Time a worker of an allocation of `totalMs` may use (the inverse of allocationMsFor). */
export function usableMsOf(totalMs: number, preemptMarginMs: number): number {
  return totalMs - Math.min(preemptMarginMs, totalMs / 2);
}

const coresPerNode = (shape: AllocationShape): number | undefined =>
  shape.coresPerWorker === undefined ? undefined : shape.coresPerWorker * shape.workersPerNode;

/** Nodes for every waiting instance to run at once, within the shape's limits; and why. */
export function nodesFor(waiting: readonly WaitingStep[], shape: AllocationShape): { nodes: number; why: string } {
  const perNode = coresPerNode(shape);
  const minNodes = Math.max(1, ...waiting.map((s) => s.demand.nodes));
  const cores = waiting.reduce((sum, s) => sum + s.demand.cores, 0);
  const byCores = perNode ? Math.ceil(cores / perNode) : shape.maxNodes;
  const nodes = Math.min(shape.maxNodes, Math.max(minNodes, byCores));
  const why = perNode
    ? `${nodes} node(s) for ${waiting.length} instance(s) waiting (${cores} cores, ${perNode} a node, at most ${shape.maxNodes})`
    : `${nodes} node(s): the cores of a node are unknown, so --nodes-per-allocation`;
  return { nodes, why };
}

export function sizeAllocation(i: SizingInput): Sizing {
  const { shape } = i;
  const perNode = coresPerNode(shape);
  const { nodes, why: nodesWhy } = nodesFor(i.waiting, shape);
  const cap = shape.walltimeSeconds;
  if (cap === undefined)
    return { nodes, walltimeSeconds: undefined, why: `${nodesWhy}; the scheduler's default walltime` };
  const full = (reason: string): Sizing => ({
    nodes,
    walltimeSeconds: cap,
    why: `${nodesWhy}; the whole --walltime ${formatWalltime(cap)}: ${reason}`,
  });
  if (perNode === undefined) return full('the cores of a node are unknown');

  const steps = new Map<string, StepWork>();
  for (const s of i.waiting) {
    const learned = i.learned.get(s.step);
    if (learned === undefined || learned.runs === 0) return full(`step ${s.step} has no run time learned yet`);
    const w = steps.get(s.step) ?? { step: s.step, coreMs: 0, needMs: 0 };
    // An exclusive step holds its whole worker; one spanning nodes holds its cores on each.
    const held =
      (s.demand.exclusive ? Math.max(s.demand.cores, shape.coresPerWorker ?? 0) : s.demand.cores) * s.demand.nodes;
    w.coreMs += held * learned.meanMs;
    w.needMs = Math.max(w.needMs, learned.p90Ms, s.timeoutMs ?? 0);
    steps.set(s.step, w);
  }
  const work = [...steps.values()];
  const drainMs = work.reduce((sum, w) => sum + w.coreMs, 0) / (nodes * perNode);
  const slowest = work.reduce((a, b) => (b.needMs > a.needMs ? b : a));
  const p90Ms = Math.max(...work.map((w) => i.learned.get(w.step)?.p90Ms ?? 0));
  const floorMs = allocationMsFor(slowest.needMs, shape.preemptMarginMs);
  const wantMs = allocationMsFor(drainMs + p90Ms, shape.preemptMarginMs);
  // The schedulers count walltimes in whole minutes: round up, never below what the work needs.
  const minutes = Math.ceil(Math.max(floorMs, wantMs) / 60_000) * 60;
  const walltimeSeconds = Math.min(cap, Math.max(60, minutes));
  const bound =
    walltimeSeconds === cap
      ? `at most --walltime ${formatWalltime(cap)}`
      : `not less than ${slowest.step}'s ${hms(slowest.needMs)} (p90 or walltime)`;
  return {
    nodes,
    walltimeSeconds,
    slowest: { step: slowest.step, needMs: slowest.needMs },
    why:
      `${nodesWhy}; walltime ${formatWalltime(walltimeSeconds)}: ${hms(drainMs)} of learned work on them ` +
      `+ p90 ${hms(p90Ms)} + preemption margin, rounded up to a minute, ${bound}`,
  };
}
