/**
 * Merlin worker groups: their steps' queues, nodes, batch and concurrency; Merlin's defaults; an
 * unknown group. (Unknown step names are refused when the spec is read: libs/spec merlin-workers.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy } from '@maestro/spec';
import { AllocationError } from '../src/allocations/errors.js';
import { resolveWorkerGroup, workerGroupNames } from '../src/allocations/worker-groups.js';

const SPEC = `description: {name: groups, description: worker groups}
batch: {type: slurm, bank: b1, queue: pdebug}
study:
  - {name: prep, description: d, run: {cmd: "prep"}}
  - {name: sim, description: d, run: {cmd: "sim", task_queue: simq, depends: [prep]}}
  - {name: post, description: d, run: {cmd: "post", task_queue: postq, depends: [sim]}}
merlin:
  resources:
    workers:
      simworkers:
        steps: [sim]
        nodes: 2
        args: -l INFO --concurrency 3 --prefetch-multiplier 1
        batch: {queue: pbatch}
      postworkers:
        steps: [post]
`;

function load(text: string) {
  const { study } = parseStudy(text, { file: 'groups.yaml' });
  return { study, x: expandStudy(study, { root: '/out', specRoot: '/spec', cwd: '/' }) };
}

describe('worker groups', () => {
  it("take their steps' queues, nodes, celery --concurrency and batch over the spec's", () => {
    const { study, x } = load(SPEC);
    expect(resolveWorkerGroup(study, x, 'simworkers')).toEqual({
      name: 'simworkers',
      steps: ['sim'],
      queues: ['simq'],
      nodes: 2,
      batch: { type: 'slurm', bank: 'b1', queue: 'pbatch' },
      concurrency: 3,
    });
    expect(resolveWorkerGroup(study, x, 'postworkers')).toMatchObject({ queues: ['postq'], nodes: undefined });
  });

  it('steps no group names go to default_worker, as in Merlin; [all] takes every queue', () => {
    const { study, x } = load(SPEC);
    expect(workerGroupNames(study)).toEqual(['simworkers', 'postworkers', 'default_worker']);
    expect(resolveWorkerGroup(study, x, 'default_worker')).toMatchObject({ steps: ['prep'], queues: ['steps'] });
    const all = load(SPEC.replace('steps: [post]', 'steps: [all]'));
    expect(workerGroupNames(all.study)).toEqual(['simworkers', 'postworkers']);
    expect([...resolveWorkerGroup(all.study, all.x, 'postworkers').queues].sort()).toEqual(['postq', 'simq', 'steps']);
  });

  it('an unknown group name is refused with the list of groups', () => {
    const { study, x } = load(SPEC);
    expect(() => resolveWorkerGroup(study, x, 'nope')).toThrow(AllocationError);
    expect(() => resolveWorkerGroup(study, x, 'nope')).toThrow(
      "--group: the spec has no worker group 'nope'; its groups are: simworkers, postworkers, default_worker",
    );
    const plain = load(SPEC.slice(0, SPEC.indexOf('merlin:')));
    expect(() => resolveWorkerGroup(plain.study, plain.x, 'sim')).toThrow(
      '--group: the spec defines no worker groups (merlin.resources.workers)',
    );
  });
});
