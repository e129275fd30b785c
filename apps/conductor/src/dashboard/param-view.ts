/**
 * The study view's "Failures by parameter" panel: the same analysis as `maestro status
 * --by-param` (status/by-param.ts), fed from the snapshot's packed states and the study's
 * expansion instead of status.csv. Computed once per snapshot: a study's records change only
 * when its version does.
 */
import { readStateRecord, StepState, stepStateName } from '@maestro/protocol';
import { analyseByParam, describeStandout, type ByParamReport, type ParamSample } from '../status/index.js';
import type { Snapshot } from './study-model.js';

export type ByParamView =
  | (ByParamReport & { readonly available: true; readonly findings: readonly string[] })
  | { readonly available: false; readonly reason: string };

const views = new WeakMap<Snapshot, ByParamView>();

export function byParamView(snap: Snapshot): ByParamView {
  let view = views.get(snap);
  if (!view) {
    view = build(snap);
    views.set(snap, view);
  }
  return view;
}

function build(snap: Snapshot): ByParamView {
  const x = snap.model.expanded;
  if (!x) {
    return {
      available: false,
      reason: `the study's parameters are read from its folder, which could not be read here${snap.model.problem ? ` (${snap.model.problem})` : ''}`,
    };
  }
  function* samples(): Generator<ParamSample> {
    for (let i = 0; i < snap.record.instanceCount; i++) {
      const rec = readStateRecord(snap.bytes, i);
      const d = x!.describe(i);
      const ran = rec.state === StepState.FINISHED && rec.startMs > 0 && rec.endMs >= rec.startMs;
      yield {
        step: d.step,
        state: stepStateName(rec.state),
        params: Object.entries(d.params),
        runSeconds: ran ? (rec.endMs - rec.startMs) / 1000 : undefined,
      };
    }
  }
  const report = analyseByParam(samples());
  return { available: true, ...report, findings: report.standouts.map(describeStandout) };
}
