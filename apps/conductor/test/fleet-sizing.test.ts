/** How large an allocation the autoscaler asks for, from the work waiting and learned run times. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stepDemand, type StepResources } from '@maestro/protocol';
import type { AllocationShape, WaitingStep } from '../src/fleet/policy.js';
import { unfitForAllocations } from '../src/fleet/policy.js';
import { allocationMsFor, sizeAllocation, usableMsOf, type LearnedRuntime } from '../src/fleet/sizing.js';

const shape: AllocationShape = {
  coresPerWorker: 4,
  workersPerNode: 1,
  gpusPerWorker: 0,
  maxNodes: 4,
  walltimeSeconds: 3600,
  preemptMarginMs: 60_000,
  scheduler: 'slurm',
};

const ask = (step: string, resources: StepResources = {}, timeoutMs?: number): WaitingStep => ({
  step,
  queue: 'steps',
  demand: stepDemand(resources),
  timeoutMs,
});
const many = (n: number, s: WaitingStep): WaitingStep[] => Array.from({ length: n }, () => s);
const learned = (entries: Record<string, LearnedRuntime>): Map<string, LearnedRuntime> =>
  new Map(Object.entries(entries));

describe('sizeAllocation', () => {
  it('asks for the whole --walltime until every waiting step has a learned run time', () => {
    const waiting = [...many(2, ask('a')), ask('b')];
    const size = sizeAllocation({ waiting, learned: learned({ a: { runs: 3, meanMs: 1000, p90Ms: 1200 } }), shape });
    expect(size).toEqual({
      nodes: 1,
      walltimeSeconds: 3600,
      why: expect.stringContaining('the whole --walltime 01:00:00: step b has no run time learned yet'),
    });
  });

  it('asks for the work waiting plus the p90 and the margin, in whole minutes', () => {
    // 16 instances of 1 core and 100 s mean on 4 nodes of 4 cores: one 100 s wave; + p90 150 s
    // + the 60 s margin = 310 s: 6 minutes.
    const sim = ask('sim', { procs: 1 });
    const size = sizeAllocation({
      waiting: many(16, sim),
      learned: learned({ sim: { runs: 10, meanMs: 100_000, p90Ms: 150_000 } }),
      shape,
    });
    expect(size.nodes).toBe(4);
    expect(size.walltimeSeconds).toBe(360);
    expect(size.why).toBe(
      "4 node(s) for 16 instance(s) waiting (16 cores, 4 a node, at most 4); walltime 00:06:00: 00:01:40 of learned work on them + p90 00:02:30 + preemption margin, rounded up to a minute, not less than sim's 00:02:30 (p90 or walltime)",
    );
  });

  it('gives more time, not more nodes than allowed, to more work; and is capped by --walltime', () => {
    const sim = ask('sim', { procs: 1 });
    const rt = learned({ sim: { runs: 10, meanMs: 100_000, p90Ms: 150_000 } });
    // 64 instances on 4 nodes: four waves of 100 s.
    expect(sizeAllocation({ waiting: many(64, sim), learned: rt, shape }).walltimeSeconds).toBe(660);
    const capped = sizeAllocation({ waiting: many(1000, sim), learned: rt, shape });
    expect(capped).toMatchObject({ nodes: 4, walltimeSeconds: 3600 });
    expect(capped.why).toContain('at most --walltime 01:00:00');
  });

  it('keeps a declared step walltime whole: workers start a step only with that much time left', () => {
    const size = sizeAllocation({
      waiting: [ask('sim', {}, 1_200_000)],
      learned: learned({ sim: { runs: 5, meanMs: 10_000, p90Ms: 20_000 } }),
      shape,
    });
    expect(size.walltimeSeconds).toBe(1260);
  });

  it('leaves the walltime to the scheduler without --walltime, and to --walltime without cores per node', () => {
    const rt = learned({ sim: { runs: 5, meanMs: 10_000, p90Ms: 20_000 } });
    expect(
      sizeAllocation({ waiting: [ask('sim')], learned: rt, shape: { ...shape, walltimeSeconds: undefined } }),
    ).toMatchObject({ nodes: 1, walltimeSeconds: undefined });
    expect(
      sizeAllocation({ waiting: [ask('sim')], learned: rt, shape: { ...shape, coresPerWorker: undefined } }),
    ).toMatchObject({ nodes: 4, walltimeSeconds: 3600 });
  });

  // Shapes, steps and learned run times at random: the promises of the sizing hold for all.
  const arbStep = fc.record({
    procs: fc.integer({ min: 1, max: 8 }),
    instances: fc.integer({ min: 1, max: 200 }),
    meanMs: fc.integer({ min: 1, max: 3_600_000 }),
    spread: fc.double({ min: 1, max: 5, noNaN: true }),
    timeoutMs: fc.option(fc.integer({ min: 1000, max: 7_200_000 }), { nil: undefined }),
  });
  const arbCase = fc.record({
    steps: fc.array(arbStep, { minLength: 1, maxLength: 4 }),
    coresPerWorker: fc.integer({ min: 8, max: 128 }),
    workersPerNode: fc.integer({ min: 1, max: 4 }),
    maxNodes: fc.integer({ min: 1, max: 64 }),
    walltimeSeconds: fc.integer({ min: 60, max: 7 * 86_400 }),
    preemptMarginMs: fc.integer({ min: 0, max: 600_000 }),
  });

  it('never asks for less than the p90 (or walltime) of a step it is for, nor more than --walltime, and follows the work', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const sh: AllocationShape = { ...shape, ...c, gpusPerWorker: 0 };
        const rt = new Map<string, LearnedRuntime>();
        const waiting: WaitingStep[] = [];
        c.steps.forEach((s, k) => {
          const name = `s${k}`;
          rt.set(name, { runs: 10, meanMs: s.meanMs, p90Ms: s.meanMs * s.spread });
          waiting.push(...many(s.instances, ask(name, { procs: s.procs }, s.timeoutMs)));
        });
        // What the autoscaler refuses never reaches the sizing.
        const runnable = waiting.filter((w) => unfitForAllocations(w, sh, rt.get(w.step)?.p90Ms) === undefined);
        if (runnable.length === 0) return;
        const size = sizeAllocation({ waiting: runnable, learned: rt, shape: sh });
        const total = (size.walltimeSeconds ?? 0) * 1000;
        expect(total).toBeLessThanOrEqual(c.walltimeSeconds * 1000);
        for (const w of runnable) {
          const need = Math.max(rt.get(w.step)!.p90Ms, w.timeoutMs ?? 0);
          expect(total).toBeGreaterThanOrEqual(need);
          expect(usableMsOf(total, sh.preemptMarginMs)).toBeGreaterThanOrEqual(need - 1e-6);
        }
        expect(size.nodes).toBeGreaterThanOrEqual(1);
        expect(size.nodes).toBeLessThanOrEqual(c.maxNodes);
        // Twice the work never gets fewer nodes, nor a shorter walltime.
        const twice = sizeAllocation({ waiting: [...runnable, ...runnable], learned: rt, shape: sh });
        expect(twice.nodes).toBeGreaterThanOrEqual(size.nodes);
        if (twice.nodes === size.nodes)
          expect(twice.walltimeSeconds ?? 0).toBeGreaterThanOrEqual(size.walltimeSeconds ?? 0);
      }),
    );
  });

  it('allocationMsFor and usableMsOf are inverses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 10 ** 6 }), (usable, margin) => {
        expect(usableMsOf(allocationMsFor(usable, margin), margin)).toBe(usable);
      }),
    );
  });
});

describe('unfitForAllocations with a learned p90', () => {
  it('refuses a step whose p90 is longer than what the workers of an allocation have', () => {
    expect(unfitForAllocations(ask('sim'), { ...shape, walltimeSeconds: 600 }, 560_000)).toBe(
      'no allocation the autoscaler starts can run it: its learned p90 run time 00:09:20 is longer than the 00:09:00 its workers have (--walltime 00:10:00 less their preemption margin)',
    );
    expect(unfitForAllocations(ask('sim'), { ...shape, walltimeSeconds: 600 }, 540_000)).toBeUndefined();
  });
});
