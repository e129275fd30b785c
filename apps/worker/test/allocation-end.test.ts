/** When a worker must stop in its allocation, what still fits before then, and the stop itself. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AllocationQueryError } from '../src/allocation.js';
import { AllocationEnd } from '../src/allocation-end.js';
import type { WorkerState } from '../src/lifecycle.js';
import { captureLogs } from './helpers.js';

const MINUTE = 60_000;

afterEach(() => {
  vi.useRealTimers();
});

/** An AllocationEnd whose scheduler answers `answers` in turn (the last one from then on). */
function allocationEnd(answers: (number | undefined | Error)[], preemptMarginMs = MINUTE) {
  let t = 1_000_000_000;
  const lifecycle = { state: 'running' as WorkerState };
  const onStop = vi.fn();
  const logs = captureLogs('info');
  let asked = 0;
  const end = new AllocationEnd({
    clock: {
      endsAt: async () => {
        const answer = answers[Math.min(asked++, answers.length - 1)];
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    preemptMarginMs,
    refreshMs: 10 * MINUTE,
    now: () => t,
    log: logs.logger,
    warn: (write) => write(),
    lifecycle,
    onStop,
  });
  return { end, lifecycle, onStop, logs, at: () => t, advance: (ms: number) => (t += ms) };
}

describe('AllocationEnd', () => {
  it('stops the margin before the end, or half of what is left when that is shorter', async () => {
    const t0 = 1_000_000_000;
    const long = allocationEnd([t0 + 10 * MINUTE]);
    await long.end.refresh();
    expect([long.end.endsAt, long.end.stopAt]).toEqual([t0 + 10 * MINUTE, t0 + 9 * MINUTE]);
    const short = allocationEnd([t0 + MINUTE]);
    await short.end.refresh();
    expect(short.end.stopAt).toBe(t0 + MINUTE / 2);
    long.end.stop();
    short.end.stop();
  });

  it('keeps its first margin when the allocation is extended, and says so once per new end', async () => {
    const t0 = 1_000_000_000;
    const x = allocationEnd([t0 + MINUTE, t0 + 60 * MINUTE, t0 + 60 * MINUTE]);
    await x.end.refresh();
    await x.end.refresh();
    await x.end.refresh();
    expect(x.end.stopAt).toBe(t0 + 60 * MINUTE - MINUTE / 2);
    expect(x.logs.lines.map((l) => l['msg'])).toEqual(['allocation end known', 'allocation end known']);
    x.end.stop();
  });

  it('lets a walltime start only if it ends by the stop time of its clock', async () => {
    const x = allocationEnd([1_000_000_000 + 10 * MINUTE]);
    expect(x.end.fits(24 * 60 * MINUTE)).toBe(true); // no end known yet
    await x.end.refresh();
    expect(x.end.fits(undefined)).toBe(true);
    expect(x.end.fits(9 * MINUTE)).toBe(true);
    expect(x.end.fits(9 * MINUTE + 1)).toBe(false);
    expect(x.end.secondsLeft()).toBe(9 * 60);
    x.advance(8 * MINUTE + 500);
    expect(x.end.fits(MINUTE)).toBe(false);
    expect(x.end.secondsLeft()).toBe(59);
    x.advance(10 * MINUTE);
    expect(x.end.secondsLeft()).toBe(0);
    x.end.stop();
  });

  it('keeps what it knew when the scheduler cannot answer', async () => {
    const x = allocationEnd([1_000_000_000 + 10 * MINUTE, new AllocationQueryError('squeue: timed out')]);
    await x.end.refresh();
    await x.end.refresh();
    expect(x.end.stopAt).toBe(1_000_000_000 + 9 * MINUTE);
    expect(x.logs.lines.map((l) => l['msg'])).toEqual([
      'allocation end known',
      'cannot tell when the allocation ends; keeping what was known',
    ]);
    x.end.stop();
  });

  it('calls for the stop when its clock reaches the stop time, unless the end moved meanwhile', async () => {
    vi.useFakeTimers();
    const t0 = 1_000_000_000;
    const x = allocationEnd([t0 + 2 * MINUTE]);
    await x.end.start();
    x.advance(MINUTE - 1);
    await vi.advanceTimersByTimeAsync(MINUTE - 1);
    expect(x.onStop).not.toHaveBeenCalled();
    x.advance(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(x.onStop).toHaveBeenCalledOnce();
    x.end.stop();

    const extended = allocationEnd([t0 + 2 * MINUTE, t0 + 60 * MINUTE]);
    await extended.end.refresh();
    extended.advance(MINUTE);
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(extended.onStop).not.toHaveBeenCalled();
    expect(extended.end.stopAt).toBe(t0 + 59 * MINUTE);
    extended.end.stop();

    const stopped = allocationEnd([t0 + 2 * MINUTE]);
    stopped.lifecycle.state = 'stopped';
    await stopped.end.refresh();
    stopped.advance(MINUTE);
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(stopped.onStop).not.toHaveBeenCalled();
    stopped.end.stop();
  });
});
