/** Which queued steps no worker can run, and when the autoscaler submits an allocation. */
import { describe, expect, it } from 'vitest';
import { stepDemand, type StepResources, type WorkerRecord } from '@maestro/protocol';
import {
  backoffMs,
  blockedReason,
  canTakeNow,
  decideScale,
  unfitForAllocations,
  type AllocationShape,
  type ScaleInput,
  type WaitingStep,
} from '../src/fleet/policy.js';

const NOW = 1_000_000;

const step = (resources: StepResources = {}, timeoutMs?: number, queue = 'steps'): WaitingStep => ({
  step: 'sim',
  queue,
  demand: stepDemand(resources),
  timeoutMs,
});

const worker = (over: Partial<WorkerRecord> = {}): WorkerRecord => ({
  name: 'w',
  host: 'node1',
  pid: 1,
  queues: 'steps',
  slots: 4,
  cores: 4,
  gpus: 0,
  freeCores: 4,
  freeGpus: 0,
  nodes: 1,
  running: 0,
  done: 0,
  startedAt: 0,
  lastSeen: NOW,
  scheduler: 'slurm',
  state: 'running',
  ...over,
});

describe('blockedReason', () => {
  it('says nothing while no live worker serves the queue: the step waits for workers', () => {
    expect(blockedReason(step({ procs: 64 }), [], NOW)).toBeUndefined();
    expect(blockedReason(step({ procs: 64 }, undefined, 'post'), [worker()], NOW)).toBeUndefined();
  });

  it('names a step too large for every live worker', () => {
    expect(blockedReason(step({ procs: 8 }), [worker(), worker({ cores: 6 })], NOW)).toEqual({
      kind: 'size',
      reason: 'too large for every live worker: needs 8 cores on a node (the worker has 6)',
    });
  });

  it('names a walltime longer than every live worker has left', () => {
    const workers = [
      worker({ stopAt: NOW + 60_000 }),
      worker({ stopAt: NOW + 90_000 }),
      worker({ cores: 1, stopAt: NOW + 10 ** 7 }),
    ];
    expect(blockedReason(step({ procs: 2 }, 300_000), workers, NOW)).toEqual({
      kind: 'time',
      reason:
        'its walltime 00:05:00 is longer than the time left of every live worker that could run it (at most 00:01:30)',
    });
    expect(blockedReason(step({ procs: 2 }, 60_000), workers, NOW)).toBeUndefined();
  });
});

describe('canTakeNow', () => {
  it('needs the step to fit, its cores free and the time', () => {
    expect(canTakeNow(step({ procs: 2 }), worker({ freeCores: 2, running: 1 }), NOW)).toBe(true);
    expect(canTakeNow(step({ procs: 2 }), worker({ freeCores: 1, running: 1 }), NOW)).toBe(false);
    expect(canTakeNow(step({}, 60_000), worker({ stopAt: NOW + 30_000 }), NOW)).toBe(false);
    expect(canTakeNow(step(), worker({ state: 'draining' }), NOW)).toBe(false);
  });
});

const shape: AllocationShape = {
  coresPerWorker: 4,
  workersPerNode: 1,
  gpusPerWorker: 0,
  maxNodes: 2,
  walltimeSeconds: 600,
  preemptMarginMs: 60_000,
  scheduler: 'slurm',
};

describe('unfitForAllocations', () => {
  it('keeps steps no allocation of the autoscaler can run from asking for allocations', () => {
    expect(unfitForAllocations(step({ procs: 8 }), shape)).toBe(
      'no allocation the autoscaler starts can run it: it needs 8 cores on a node (the worker has 4)',
    );
    expect(unfitForAllocations(step({}, 580_000), shape)).toBe(
      'no allocation the autoscaler starts can run it: its walltime 00:09:40 is longer than the 00:09:00 its workers have (--walltime 00:10:00 less their preemption margin)',
    );
    expect(unfitForAllocations(step({ nodes: 2, procs: 8 }, 500_000), shape)).toBeUndefined();
  });
});

describe('decideScale', () => {
  const input = (over: Partial<ScaleInput>): ScaleInput => ({
    nowMs: NOW,
    waiting: [step({ procs: 2 })],
    workers: [],
    starting: 0,
    active: 0,
    maxAllocations: 2,
    shape,
    backoffUntilMs: 0,
    ...over,
  });

  it('submits while work waits and no worker can take it, sized to the cores waiting', () => {
    expect(decideScale(input({}))).toEqual({ submit: true, nodes: 1 });
    expect(decideScale(input({ waiting: Array.from({ length: 3 }, () => step({ procs: 2 })) }))).toEqual({
      submit: true,
      nodes: 2,
    });
    expect(decideScale(input({ waiting: Array.from({ length: 30 }, () => step({ procs: 2 })) }))).toEqual({
      submit: true,
      nodes: 2,
    });
    expect(decideScale(input({ waiting: [step({ nodes: 2 })] }))).toEqual({ submit: true, nodes: 2 });
    // A busy worker is no reason to wait.
    expect(decideScale(input({ workers: [worker({ freeCores: 0, running: 4 })] }))).toEqual({ submit: true, nodes: 1 });
  });

  it('does not submit without work, while a worker can take it, while one is starting, at the limit, or backing off', () => {
    expect(decideScale(input({ waiting: [] }))).toEqual({ submit: false, why: 'no work waiting' });
    expect(decideScale(input({ workers: [worker({ freeCores: 2, running: 1 })] }))).toEqual({
      submit: false,
      why: 'a live worker can take the waiting work',
    });
    expect(decideScale(input({ starting: 1, active: 1 }))).toEqual({ submit: false, why: 'an allocation is starting' });
    expect(decideScale(input({ active: 2 }))).toEqual({ submit: false, why: 'at --max-allocations' });
    expect(decideScale(input({ backoffUntilMs: NOW + 1 }))).toEqual({
      submit: false,
      why: 'backing off after a failed submission',
    });
  });

  it('backs off 5 s, 10 s, 20 s ... up to 5 min', () => {
    expect([0, 1, 2, 3, 7, 20].map(backoffMs)).toEqual([0, 5_000, 10_000, 20_000, 300_000, 300_000]);
  });
});
