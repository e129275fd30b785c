/** The study view's arithmetic over packed instance records: counts, failures, pages, rates. */
import { describe, expect, it } from 'vitest';
import { STATE_RECORD_BYTES, StepState, writeStateRecord, type StateRecord } from '@maestro/protocol';
import { etaMs, finalCount, pageInstances, RateTracker, summarizeStates } from '../src/dashboard/aggregate.js';
import { layoutStepGraph } from '../src/dashboard/graph-layout.js';
import { parseStudyRecord } from '../src/dashboard/records.js';

const blank: StateRecord = {
  state: 0,
  restarts: 0,
  tries: 0,
  flags: 0,
  attempt: 0,
  submitMs: 0,
  startMs: 0,
  endMs: 0,
  pid: 0,
  exitCode: -1,
  worker: 0,
  bundle: 0,
};

function records(states: number[]): Uint8Array {
  const bytes = new Uint8Array(states.length * STATE_RECORD_BYTES);
  states.forEach((state, i) => writeStateRecord(bytes, i, { ...blank, state }));
  return bytes;
}

const { FINISHED, FAILED, TIMEDOUT, RUNNING, PENDING, INITIALIZED, CANCELLED } = StepState;

describe('summarizeStates', () => {
  it('counts per step and in all, and lists failed and timed-out instances in order', () => {
    const bytes = records([FINISHED, FINISHED, FAILED, RUNNING, PENDING, TIMEDOUT, INITIALIZED, CANCELLED]);
    const s = summarizeStates(bytes, [
      { name: 'a', firstInstance: 0, instanceCount: 3 },
      { name: 'b', firstInstance: 3, instanceCount: 4 },
      { name: 'c', firstInstance: 7, instanceCount: 1 },
    ]);
    expect(s.steps).toEqual([
      { name: 'a', total: 3, counts: { FINISHED: 2, FAILED: 1 } },
      { name: 'b', total: 4, counts: { RUNNING: 1, PENDING: 1, TIMEDOUT: 1, INITIALIZED: 1 } },
      { name: 'c', total: 1, counts: { CANCELLED: 1 } },
    ]);
    expect(s.counts).toEqual({
      FINISHED: 2,
      FAILED: 1,
      RUNNING: 1,
      PENDING: 1,
      TIMEDOUT: 1,
      INITIALIZED: 1,
      CANCELLED: 1,
    });
    expect(s.final).toBe(5);
    expect(Array.from(s.failed)).toEqual([2, 5]);
  });

  it('holds 100,000 instances without an object per instance', () => {
    const n = 100_000;
    const states = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? FAILED : i % 2 ? FINISHED : RUNNING));
    const s = summarizeStates(records(states), [{ name: 'big', firstInstance: 0, instanceCount: n }]);
    expect(s.counts).toEqual({ FAILED: 10_000, FINISHED: 50_000, RUNNING: 40_000 });
    expect(s.failed).toBeInstanceOf(Int32Array);
    expect(s.failed.length).toBe(10_000);
  });
});

describe('pageInstances', () => {
  const bytes = records([FINISHED, FAILED, FINISHED, FAILED, TIMEDOUT, FAILED, RUNNING]);

  it('pages over the instances of some states and counts every match', () => {
    const filter = { states: new Set<number>([FAILED, TIMEDOUT]), from: 0, to: 7 };
    expect(pageInstances(bytes, filter, 0, 2)).toEqual({ total: 4, indices: [1, 3] });
    expect(pageInstances(bytes, filter, 2, 2)).toEqual({ total: 4, indices: [4, 5] });
    expect(pageInstances(bytes, filter, 4, 2)).toEqual({ total: 4, indices: [] });
  });

  it('keeps to a step range; no states means every state', () => {
    expect(pageInstances(bytes, { states: new Set(), from: 2, to: 5 }, 0, 10)).toEqual({
      total: 3,
      indices: [2, 3, 4],
    });
  });
});

describe('rates and ETA', () => {
  it('uses the last minute once it has seen enough, the whole run before', () => {
    const t = new RateTracker(60_000, 10_000);
    t.add(100_000, 50);
    // 5 s of samples: not enough; 50 done in the 100 s since the start.
    expect(t.ratePerSec(105_000, 0, 55)).toBeCloseTo(55 / 105, 5);
    t.add(110_000, 70);
    expect(t.ratePerSec(110_000, 0, 70)).toBeCloseTo(2, 5);
    expect(etaMs(100, 70, 2)).toBe(15_000);
  });

  it('forgets samples older than the window', () => {
    const t = new RateTracker(60_000, 10_000);
    for (let k = 0; k <= 10; k++) t.add(k * 30_000, k < 5 ? k * 100 : 400 + (k - 4) * 10);
    // Last minute: 460 -> 470 -> 480 over 60 s.
    expect(t.ratePerSec(300_000, 0, 460)).toBeCloseTo((460 - 440) / 60, 5);
  });

  it('has no ETA without a rate, and none left when all are final', () => {
    expect(etaMs(10, 3, 0)).toBeUndefined();
    expect(etaMs(10, 10, 0)).toBe(0);
  });

  it('counts final states from a counts record', () => {
    expect(finalCount({ FINISHED: 3, FAILED: 1, TIMEDOUT: 1, CANCELLED: 2, RUNNING: 9, BOGUS: 5 })).toBe(7);
  });
});

describe('layoutStepGraph', () => {
  it('places every step and routes every dependency with dagre, parents above children', () => {
    const g = layoutStepGraph([
      { name: 'make', parents: [], funnelParents: [] },
      { name: 'run', parents: [0], funnelParents: [] },
      { name: 'check', parents: [0], funnelParents: [] },
      { name: 'gather', parents: [], funnelParents: [1, 2] },
    ]);
    expect(g.nodes.map((n) => n.name)).toEqual(['make', 'run', 'check', 'gather']);
    expect(g.edges.map((e) => [e.from, e.to, e.funnel])).toEqual([
      [0, 1, false],
      [0, 2, false],
      [1, 3, true],
      [2, 3, true],
    ]);
    const y = (k: number): number => g.nodes[k]!.y;
    expect(y(0)).toBeLessThan(y(1));
    expect(y(1)).toBeLessThan(y(3));
    expect(g.nodes[1]!.x).not.toBe(g.nodes[2]!.x); // siblings side by side, not stacked
    for (const e of g.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
    for (const n of g.nodes) {
      expect(n.x - n.width / 2).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width / 2).toBeLessThanOrEqual(g.width);
    }
  });
});

describe('parseStudyRecord', () => {
  it('reads what the conductor writes', () => {
    const r = parseStudyRecord('s.1', {
      meta: JSON.stringify({
        name: 'demo',
        root: '/r',
        instanceCount: 3,
        steps: [{ name: 'a', instances: 3 }],
        queues: ['q'],
      }),
      state: 'RUNNING',
      counts: JSON.stringify({ FINISHED: 1 }),
      startedAt: '1000',
      throttle: '4',
      workerNames: JSON.stringify(['', 'w1']),
    });
    expect(r).toMatchObject({
      id: 's.1',
      name: 'demo',
      root: '/r',
      instanceCount: 3,
      queues: ['q'],
      counts: { FINISHED: 1 },
      startedMs: 1000,
      endedMs: undefined,
      limits: { throttle: 4 },
      workerNames: ['', 'w1'],
      problem: undefined,
    });
  });

  it('says what is wrong instead of throwing', () => {
    expect(parseStudyRecord('gone', {}).problem).toMatch(/no record/);
    const bad = parseStudyRecord('x', { meta: '{"steps": 5}', state: 'RUNNING' });
    expect(bad.problem).toMatch(/meta/);
    expect(bad.name).toBe('x');
  });
});
