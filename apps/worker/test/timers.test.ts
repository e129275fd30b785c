/** The worker's timers: delays past setTimeout's limit, time limits, throttled warnings. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { after, throttled, withTimeout } from '../src/timers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('after', () => {
  it('waits out a delay longer than setTimeout takes, and can be cancelled on the way', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const thirtyDays = 30 * 86_400_000;
    after(thirtyDays, fired);
    vi.advanceTimersByTime(thirtyDays - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledOnce();

    const cancelled = vi.fn();
    const cancel = after(thirtyDays, cancelled);
    vi.advanceTimersByTime(2 ** 31); // past the first leg: the canceller must reach the second
    cancel();
    vi.advanceTimersByTime(thirtyDays);
    expect(cancelled).not.toHaveBeenCalled();
  });
});

describe('withTimeout', () => {
  it('rejects once the promise has not settled in time, and passes its value otherwise', async () => {
    vi.useFakeTimers();
    const never = withTimeout(new Promise<never>(() => undefined), 5_000);
    const caught = never.catch((err: unknown) => err);
    vi.advanceTimersByTime(5_000);
    expect(await caught).toEqual(new Error('no answer from Redis within 5000 ms'));
    await expect(withTimeout(Promise.resolve(7), 5_000)).resolves.toBe(7);
  });
});

describe('throttled', () => {
  it('writes the first time, then at most once per interval of the clock it is given', () => {
    let t = 0; // a driven clock may start at 0: the first write must still happen
    const throttle = throttled(30_000, () => t);
    const writes: number[] = [];
    const write = (): void => void writes.push(t);
    throttle(write);
    t = 29_999;
    throttle(write);
    t = 30_000;
    throttle(write);
    t = 45_000;
    throttle(write);
    expect(writes).toEqual([0, 30_000]);
  });
});
