/**
 * A study's node-hours upper bound: Σ over instances of nodes × walltime, per step and in total,
 * what a batch system would charge if every instance used its whole walltime. A step that sets no
 * `nodes` counts one node per instance (a local step still holds a node's share); instances
 * without a walltime (none, 0, inf) cannot be bounded and are counted apart.
 */
import { parseWalltimeSeconds } from '@maestro/protocol';
import type { ExpandedStudy } from './expanded-study.js';
import { readCount } from './run-values.js';

export interface StepNodeHours {
  readonly step: string;
  readonly instances: number;
  /** Of the instances that have a walltime. */
  readonly nodeHours: number;
  /** Instances with no walltime, not in `nodeHours`. */
  readonly withoutWalltime: number;
}

export interface NodeHours {
  readonly steps: readonly StepNodeHours[];
  readonly total: number;
  readonly withoutWalltime: number;
}

export function nodeHours(x: ExpandedStudy): NodeHours {
  const steps = x.steps.map((step): StepNodeHours => {
    const run = step.run as Record<string, unknown>;
    // Values without tokens are the same for every instance: one reading serves them all.
    if (!hasToken(run['walltime']) && !hasToken(run['nodes'])) {
      const hours = hoursOf(run);
      return {
        step: step.name,
        instances: step.instanceCount,
        nodeHours: hours === undefined ? 0 : hours * step.instanceCount,
        withoutWalltime: hours === undefined ? step.instanceCount : 0,
      };
    }
    let total = 0;
    let without = 0;
    for (let k = 0; k < step.instanceCount; k++) {
      const hours = hoursOf(x.instance(step.firstInstance + k).run);
      if (hours === undefined) without++;
      else total += hours;
    }
    return { step: step.name, instances: step.instanceCount, nodeHours: total, withoutWalltime: without };
  });
  return {
    steps,
    total: steps.reduce((n, s) => n + s.nodeHours, 0),
    withoutWalltime: steps.reduce((n, s) => n + s.withoutWalltime, 0),
  };
}

/** Nodes × walltime of one instance's `run:`, in hours; undefined without a walltime. */
function hoursOf(run: Readonly<Record<string, unknown>>): number | undefined {
  const w = run['walltime'];
  if (typeof w !== 'string' && typeof w !== 'number') return undefined;
  let seconds: number | undefined;
  try {
    seconds = parseWalltimeSeconds(w);
  } catch {
    return undefined; // validation reports a bad walltime; it bounds nothing here
  }
  if (seconds === undefined) return undefined;
  return ((readCount(run['nodes']) ?? 1) * seconds) / 3600;
}

const hasToken = (v: unknown): boolean => typeof v === 'string' && v.includes('$(');
