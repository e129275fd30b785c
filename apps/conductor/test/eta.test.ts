import { describe, expect, it } from 'vitest';
import { estimateLeft } from '../src/conductor/eta.js';
import { StepTiming } from '../src/conductor/step-timing.js';

describe('StepTiming', () => {
  it('gives median, p10, p90 within 2.5%, the max and the mean, from a compact histogram', () => {
    const t = new StepTiming(2);
    expect(t.summary(0)).toBeUndefined();
    for (let k = 1; k <= 100; k++) t.record(0, 1_000, 1_000 + k * 100); // 100 ms .. 10 s
    const s = t.summary(0)!;
    expect(s.runs).toBe(100);
    expect(Math.abs(s.medianMs / 5_000 - 1)).toBeLessThan(0.03);
    expect(Math.abs(s.p10Ms / 1_000 - 1)).toBeLessThan(0.03);
    expect(Math.abs(s.p90Ms / 9_000 - 1)).toBeLessThan(0.03);
    expect(s.maxMs).toBe(10_000);
    expect(t.summary(1)).toBeUndefined();
    t.record(1, 0, 5); // no start time: not a run
    expect(t.summary(1)).toBeUndefined();
  });
});

describe('estimateLeft', () => {
  const runtime = (meanMs: number, p10Ms = meanMs, p90Ms = meanMs) => ({
    runs: 10,
    medianMs: meanMs,
    p10Ms,
    p90Ms,
    maxMs: p90Ms,
    meanMs,
  });

  it('is the work left over the concurrency, running instances at half', () => {
    const e = estimateLeft(
      [
        { waiting: 10, running: 2, runtime: runtime(2_000) },
        { waiting: 4, running: 0, runtime: runtime(500) },
      ],
      2,
    )!;
    expect(e.etaMs).toBe((11 * 2_000 + 4 * 500) / 2);
    expect([e.lowMs, e.highMs, e.measured]).toEqual([e.etaMs, e.etaMs, 1]);
  });

  it('counts a step not timed yet at the others, and widens the range for it', () => {
    const e = estimateLeft(
      [
        { waiting: 10, running: 0, runtime: runtime(1_000, 500, 1_500) },
        { waiting: 10, running: 0, runtime: undefined },
      ],
      1,
    )!;
    expect(e.etaMs).toBe(20_000);
    expect(e.measured).toBe(0.5);
    expect(e.lowMs).toBeLessThan(e.etaMs - 5_000);
    expect(e.highMs).toBeGreaterThan(e.etaMs + 10_000);
  });

  it('has nothing to say before any run is timed', () => {
    expect(estimateLeft([{ waiting: 3, running: 1, runtime: undefined }], 2)).toBeUndefined();
  });
});
