/** Merlin worker groups name steps of the study or `all`: anything else is refused, located, as Merlin refuses it. */
import { describe, expect, it } from 'vitest';
import { readStudy, SpecErrorCode } from '@maestro/spec';

const spec = (steps: string): string => `description: {name: groups, description: worker groups}
study:
  - {name: prep, description: d, run: {cmd: "prep"}}
  - {name: sim, description: d, run: {cmd: "sim", depends: [prep]}}
merlin:
  resources:
    workers:
      simworkers:
        steps: ${steps}
`;

describe('merlin.resources.workers steps', () => {
  it('accepts step names and all', () => {
    expect(readStudy(spec('[sim, prep]'), { file: 'g.yaml' }).errors).toEqual([]);
    expect(readStudy(spec('[all]'), { file: 'g.yaml' }).errors).toEqual([]);
  });

  it('refuses names that are no step, each at its place, with the steps there are', () => {
    const { errors } = readStudy(spec('[sim, simm, pots]'), { file: 'g.yaml' });
    expect(errors.map((e) => [e.code, e.line, e.col, e.path, e.message, e.allowed])).toEqual([
      [
        SpecErrorCode.UnknownStep,
        9,
        22,
        'merlin.resources.workers.simworkers.steps[1]',
        "worker group 'simworkers' names no step 'simm' (did you mean 'sim'?)",
        'allowed: all, prep, sim',
      ],
      [
        SpecErrorCode.UnknownStep,
        9,
        28,
        'merlin.resources.workers.simworkers.steps[2]',
        "worker group 'simworkers' names no step 'pots'",
        'allowed: all, prep, sim',
      ],
    ]);
  });
});
