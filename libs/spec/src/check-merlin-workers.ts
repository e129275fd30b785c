/**
 * Merlin's worker groups name steps (`merlin.resources.workers.NAME.steps`): each must be a step
 * of the study or `all`, as Merlin checks when it loads a spec (merlin/spec/specification.py).
 */
import { SpecErrorCode } from './errors.js';
import type { ProblemList } from './problems.js';
import type { StudyInput } from './schema.js';
import type { StudyStep } from './study.js';
import { didYouMean } from './suggest.js';

export function checkWorkerGroupSteps(
  merlin: StudyInput['merlin'],
  steps: readonly StudyStep[],
  unusable: ReadonlySet<string>,
  problems: ProblemList,
): void {
  const names = steps.map((s) => s.name);
  for (const [group, g] of Object.entries(merlin?.resources?.workers ?? {})) {
    (g.steps ?? []).forEach((step, k) => {
      // A step left out for its own problems is not unknown.
      if (step === 'all' || names.includes(step) || unusable.has(step)) return;
      problems.error(
        SpecErrorCode.UnknownStep,
        ['merlin', 'resources', 'workers', group, 'steps', k],
        `worker group '${group}' names no step '${step}'${didYouMean(step, names)}`,
        `allowed: all, ${names.join(', ')}`,
      );
    });
  }
}
