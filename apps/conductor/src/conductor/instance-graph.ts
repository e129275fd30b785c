/**
 * The study's instances as a @maestro/dag graph. A funnel (`depends: [x_*]`) would need one edge
 * per pair of instances; instead each funnelled step gets one pass-through node that waits for
 * all of its instances, so K parents and M children cost K + M edges.
 */
import { GraphBuilder, type Graph } from '@maestro/dag';
import type { ExpandedStudy } from '@maestro/spec';

export interface InstanceGraph {
  readonly graph: Graph;
  /** 1 for the pass-through (funnel) nodes, which follow the instances (ids >= instanceCount). */
  readonly passThrough: Uint8Array;
}

export function buildInstanceGraph(x: ExpandedStudy): InstanceGraph {
  const n = x.instanceCount;
  const funnelled = new Set<number>();
  for (const s of x.steps) for (const f of s.funnelParents) funnelled.add(f);
  const hubOf = new Map<number, number>();
  let next = n;
  for (const f of [...funnelled].sort((a, b) => a - b)) hubOf.set(f, next++);
  const builder = new GraphBuilder(next);
  for (const [f, hub] of hubOf) {
    const step = x.steps[f]!;
    for (let k = 0; k < step.instanceCount; k++) builder.addEdge(step.firstInstance + k, hub);
  }
  for (const step of x.steps) {
    if (step.parents.length === 0 && step.funnelParents.length === 0) continue;
    for (let k = 0; k < step.instanceCount; k++) {
      const i = step.firstInstance + k;
      for (const p of step.parents) {
        // Several when the parent runs per Merlin sample and this step does not: it waits for all.
        const { first, count } = x.parentRange(i, p);
        for (let j = 0; j < count; j++) builder.addEdge(first + j, i);
      }
      for (const f of step.funnelParents) builder.addEdge(hubOf.get(f)!, i);
    }
  }
  const passThrough = new Uint8Array(next);
  passThrough.fill(1, n);
  return { graph: builder.build(), passThrough };
}
