import { describe, expect, it } from 'vitest';
import { expandLauncher, LauncherError } from '@maestro/protocol';

const local = { scheduler: 'local' as const, resources: { nodes: 2, procs: 8 } };
const slurm = (resources: object, node?: string) => ({ scheduler: 'slurm' as const, resources, node });
const flux = (resources: object) => ({ scheduler: 'flux' as const, resources });

describe('expandLauncher, local', () => {
  it('removes a bare $(LAUNCHER)', () => {
    expect(expandLauncher('$(LAUNCHER) ./sim -n 8\n', local)).toBe(' ./sim -n 8\n');
  });

  it('removes bracketed allocations and every token of a script, whatever they ask', () => {
    const script = '#!/bin/bash\n$(LAUNCHER)[1n, 4p] ./a\n$(LAUNCHER)[4p] ./b\n$(LAUNCHER) ./c\n$(LAUNCHER)[99p] ./d\n';
    expect(expandLauncher(script, local)).toBe('#!/bin/bash\n ./a\n ./b\n ./c\n ./d\n');
  });

  it('leaves scripts without the token, and other $(...) text, untouched', () => {
    const script = 'echo $(date) $(LAUNCHERS) [x]\n';
    expect(expandLauncher(script, local)).toBe(script);
    expect(expandLauncher('no token', slurm({}))).toBe('no token');
  });

  it('does not let a bracket run across lines', () => {
    expect(expandLauncher('$(LAUNCHER)[2n\n]', local)).toBe('[2n\n]');
  });
});

describe('expandLauncher, slurm', () => {
  it('launches the whole step with srun, side by side with the worker (--overlap --exact)', () => {
    expect(expandLauncher('$(LAUNCHER) ./sim\n', slurm({ nodes: 2, procs: 8, coresPerTask: 2 }))).toBe(
      'srun -n 8 -N 2 -c 2 --overlap --exact ./sim\n',
    );
  });

  it('keeps the step on the worker node when it knows it', () => {
    expect(expandLauncher('$(LAUNCHER) ./sim', slurm({ procs: 4 }, 'node3'))).toBe(
      'srun -n 4 -N 1 -c 1 --overlap --exact -w node3 ./sim',
    );
  });

  it('defaults to one task per node, on one node', () => {
    expect(expandLauncher('$(LAUNCHER) x', slurm({}))).toBe('srun -n 1 -N 1 -c 1 --overlap --exact x');
    expect(expandLauncher('$(LAUNCHER) x', slurm({ nodes: 3 }))).toBe('srun -n 3 -N 3 -c 1 --overlap --exact x');
  });

  it('asks for GPUs per task', () => {
    expect(expandLauncher('$(LAUNCHER) x', slurm({ procs: 2, gpus: 4 }))).toBe(
      'srun -n 2 -N 1 -c 1 --overlap --exact --gpus-per-task=2 x',
    );
  });

  it('expands every bracket form of the original', () => {
    const r = slurm({ nodes: 2, procs: 8, coresPerTask: 2 });
    expect(expandLauncher('$(LAUNCHER)[1n, 4p] a', r)).toBe('srun -n 4 -N 1 -c 2 --overlap --exact a');
    expect(expandLauncher('$(LAUNCHER)[4p, 1n] a', r)).toBe('srun -n 4 -N 1 -c 2 --overlap --exact a');
    expect(expandLauncher('$(LAUNCHER)[1, 4] a', r)).toBe('srun -n 4 -N 1 -c 2 --overlap --exact a');
    expect(expandLauncher('$(LAUNCHER)[1p] a', r)).toBe('srun -n 1 -N 1 -c 2 --overlap --exact a');
    expect(expandLauncher('$(LAUNCHER)[6p] a', r)).toBe('srun -n 6 -N 2 -c 2 --overlap --exact a');
  });

  it('expands a bare token beside bracketed ones with the whole step (the original leaves it)', () => {
    const r = slurm({ nodes: 2, procs: 8 });
    expect(expandLauncher('$(LAUNCHER)[1n, 4p] a\n$(LAUNCHER)[4p] b\n$(LAUNCHER) c\n', r)).toBe(
      'srun -n 4 -N 1 -c 1 --overlap --exact a\nsrun -n 4 -N 2 -c 1 --overlap --exact b\nsrun -n 8 -N 2 -c 1 --overlap --exact c\n',
    );
  });

  it('refuses shares larger than the step, alone or together, naming them', () => {
    const r = slurm({ nodes: 2, procs: 8 });
    const expand = (s: string) => () => expandLauncher(s, r);
    expect(expand('$(LAUNCHER)[3n, 4p] a')).toThrow(/\[3n, 4p\]: 3 nodes, but the step has nodes: 2/);
    expect(expand('$(LAUNCHER)[9p] a')).toThrow(/9 tasks, but the step has procs: 8/);
    expect(expand('$(LAUNCHER)[6p] a\n$(LAUNCHER)[4p] b')).toThrow(/ask for 10 tasks in all; the step has procs: 8/);
    expect(expand('$(LAUNCHER)[2n, 2p] a\n$(LAUNCHER)[1n, 2p] b')).toThrow(/ask for 3 nodes in all/);
    expect(expand('$(LAUNCHER)[2n] a')).toThrow(/the number of tasks \(p\) is required/);
    expect(expand('$(LAUNCHER)[2n, 2n, 1p] a')).toThrow(/nodes given twice/);
    expect(expand('$(LAUNCHER)[2x] a')).toThrow(/'2x' is not a count of nodes \(n\) or tasks \(p\)/);
    expect(expand('$(LAUNCHER)[0p] a')).toThrow(LauncherError);
  });
});

describe('expandLauncher, flux', () => {
  it('launches with flux run, GPUs per task', () => {
    expect(expandLauncher('$(LAUNCHER) ./sim', flux({ nodes: 2, procs: 8, coresPerTask: 2, gpus: 8 }))).toBe(
      'flux run -n 8 -N 2 -c 2 -g 1 ./sim',
    );
    expect(expandLauncher('$(LAUNCHER)[2p] ./post', flux({ procs: 4 }))).toBe('flux run -n 2 -N 1 -c 1 ./post');
  });
});
