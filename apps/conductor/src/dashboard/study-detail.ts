/**
 * One study in detail (GET /api/studies/:id, the `summary` event of its stream): its row of the
 * list, its spec steps with their counts and dependencies, and the step DAG laid out by dagre.
 */
import { layoutStepGraph, type GraphLayout } from './graph-layout.js';
import type { Snapshot } from './study-model.js';
import type { StepDetail, StudyDetail, StudyListItem } from './views.js';

/** The detail of `snap`, whose list row (with the snapshot's own counts) is `item`. */
export function studyDetail(
  snap: Snapshot,
  item: StudyListItem,
  now: number,
  source: StudyDetail['source'],
): Omit<StudyDetail, 'conductor'> {
  const { record: r, summary, model } = snap;
  return {
    ...item,
    now,
    version: snap.version,
    createdAt: r.createdAt ?? null,
    queues: r.queues,
    limits: r.limits,
    cancelled: r.cancelled,
    failedTotal: summary.failed.length,
    steps: stepDetails(snap),
    folder: { readable: model.expanded !== undefined, problem: model.problem ?? null },
    source,
  };
}

export function stepDetails(snap: Snapshot): StepDetail[] {
  const { summary, model } = snap;
  const names = model.ranges.map((s) => s.name);
  return summary.steps.map((s, k) => ({
    index: k,
    name: s.name,
    total: s.total,
    counts: s.counts,
    parents: (model.parents[k]?.parents ?? []).map((p) => names[p]!),
    funnelParents: (model.parents[k]?.funnelParents ?? []).map((p) => names[p]!),
  }));
}

/** The step DAG, laid out once per model, with each step's counts. */
export function stepGraph(snap: Snapshot): GraphLayout & { steps: StepDetail[] } {
  const model = snap.model;
  model.graph ??= layoutStepGraph(model.ranges.map((s, k) => ({ name: s.name, ...model.parents[k]! })));
  return { ...model.graph, steps: stepDetails(snap) };
}
