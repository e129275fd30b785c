/**
 * What a step takes from a worker, and whether a worker can give it. One definition for both
 * sides: the worker counts its slots with it, the conductor uses it to tell the user about steps
 * no live worker can ever run, and `maestro workers launch` to refuse allocations too small.
 *
 * A worker has a slot per core (`cores`) and per GPU. A step takes, on the worker that starts it,
 * its per-node share: `ceil(procs / nodes) × cores per task` cores and `ceil(gpus / nodes)` GPUs
 * (`procs` defaults to one task per node, `nodes` to 1); `exclusive: true` takes the whole worker.
 * A step spanning several nodes needs an allocation with that many nodes; its share on the other
 * nodes is not counted by their workers (Slurm lets it overlap them, Flux queues it).
 *
 * Without a scheduler (`local`), resources are a wish, as in Maestro's local adapter: the step
 * runs as one process, so it takes at most the whole worker and always fits.
 */
import type { LauncherScheduler } from './launcher.js';
import type { StepResources } from './step-job.js';

/** What a step takes from the worker that starts it. */
export interface StepDemand {
  cores: number;
  gpus: number;
  /** Nodes the step spans (the allocation must have at least these). */
  nodes: number;
  /** Takes the whole worker. */
  exclusive: boolean;
}

/** What a worker has. */
export interface WorkerCapacity {
  cores: number;
  gpus: number;
  /** Nodes of its allocation (1 without one). */
  nodes: number;
  scheduler: LauncherScheduler;
}

export function stepDemand(r: StepResources): StepDemand {
  const nodes = r.nodes ?? 1;
  const procs = r.procs ?? nodes;
  return {
    cores: Math.ceil(procs / nodes) * (r.coresPerTask ?? 1),
    gpus: Math.ceil((r.gpus ?? 0) / nodes),
    nodes,
    exclusive: r.exclusive === true,
  };
}

export type Fit =
  /** `cores`/`gpus`: what the step takes on this worker. */
  { fits: true; cores: number; gpus: number } | { fits: false; reason: string };

/** Whether a worker of this capacity can ever run the step, and what it takes there. */
export function fitStep(demand: StepDemand, worker: WorkerCapacity): Fit {
  if (worker.scheduler === 'local') {
    if (demand.exclusive) return { fits: true, cores: worker.cores, gpus: worker.gpus };
    return {
      fits: true,
      cores: Math.max(1, Math.min(demand.cores, worker.cores)),
      gpus: Math.min(demand.gpus, worker.gpus),
    };
  }
  const problems: string[] = [];
  if (demand.cores > worker.cores)
    problems.push(`${count(demand.cores, 'core')} on a node (the worker has ${worker.cores})`);
  if (demand.gpus > worker.gpus)
    problems.push(`${count(demand.gpus, 'GPU')} on a node (the worker has ${worker.gpus})`);
  if (demand.nodes > worker.nodes) problems.push(`${count(demand.nodes, 'node')} (the allocation has ${worker.nodes})`);
  if (problems.length > 0) return { fits: false, reason: `needs ${problems.join(', ')}` };
  if (demand.exclusive) return { fits: true, cores: worker.cores, gpus: worker.gpus };
  return { fits: true, cores: Math.max(1, demand.cores), gpus: demand.gpus };
}

const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Whether a step with this walltime, started at `nowMs`, ends before the worker must stop
 * (`stopAtMs`: the allocation's end minus the worker's preemption margin). A step without a
 * walltime always may start: nobody knows how long it runs (it is preempted if need be).
 */
export function fitsTimeLeft(timeoutMs: number | undefined, nowMs: number, stopAtMs: number | undefined): boolean {
  if (timeoutMs === undefined || stopAtMs === undefined) return true;
  return nowMs + timeoutMs <= stopAtMs;
}
