import { describe, expect, it } from 'vitest';
import { fitStep, fitsTimeLeft, stepDemand, type WorkerCapacity } from '@maestro/protocol';

const node = (cores: number, gpus = 0, nodes = 1): WorkerCapacity => ({ cores, gpus, nodes, scheduler: 'slurm' });

describe('stepDemand', () => {
  it('takes procs × cores per task on one node, one task by default', () => {
    expect(stepDemand({})).toEqual({ cores: 1, gpus: 0, nodes: 1, exclusive: false });
    expect(stepDemand({ procs: 4, coresPerTask: 2, gpus: 1 })).toEqual({
      cores: 8,
      gpus: 1,
      nodes: 1,
      exclusive: false,
    });
  });

  it('takes the per-node share of a step spanning nodes', () => {
    expect(stepDemand({ nodes: 2, procs: 8, coresPerTask: 2, gpus: 4 })).toEqual({
      cores: 8,
      gpus: 2,
      nodes: 2,
      exclusive: false,
    });
    expect(stepDemand({ nodes: 3 })).toMatchObject({ cores: 1, nodes: 3 });
  });
});

describe('fitStep', () => {
  it('fits what the worker has, and takes what the step asks for', () => {
    expect(fitStep(stepDemand({ procs: 2, coresPerTask: 2, gpus: 1 }), node(4, 2))).toEqual({
      fits: true,
      cores: 4,
      gpus: 1,
    });
  });

  it('says why a step can never run on a worker', () => {
    expect(fitStep(stepDemand({ procs: 8 }), node(4))).toEqual({
      fits: false,
      reason: 'needs 8 cores on a node (the worker has 4)',
    });
    expect(fitStep(stepDemand({ nodes: 2, gpus: 2 }), node(4, 0, 1))).toEqual({
      fits: false,
      reason: 'needs 1 GPU on a node (the worker has 0), 2 nodes (the allocation has 1)',
    });
  });

  it('gives an exclusive step the whole worker', () => {
    expect(fitStep(stepDemand({ exclusive: true }), node(4, 2))).toEqual({ fits: true, cores: 4, gpus: 2 });
  });

  it('always fits locally, taking at most the whole worker', () => {
    const laptop: WorkerCapacity = { cores: 2, gpus: 0, nodes: 1, scheduler: 'local' };
    expect(fitStep(stepDemand({ nodes: 4, procs: 64, gpus: 8 }), laptop)).toEqual({ fits: true, cores: 2, gpus: 0 });
    expect(fitStep(stepDemand({ procs: 1 }), laptop)).toEqual({ fits: true, cores: 1, gpus: 0 });
  });
});

describe('fitsTimeLeft', () => {
  it('starts a step only if its walltime ends before the worker must stop', () => {
    expect(fitsTimeLeft(60_000, 1_000, 61_000)).toBe(true);
    expect(fitsTimeLeft(60_001, 1_000, 61_000)).toBe(false);
  });

  it('starts steps without a walltime, and anything on a worker without an end', () => {
    expect(fitsTimeLeft(undefined, 1_000, 2_000)).toBe(true);
    expect(fitsTimeLeft(10 ** 9, 1_000, undefined)).toBe(true);
  });
});
